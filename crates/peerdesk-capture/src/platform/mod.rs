//! Platform capture backends: one cfg ladder picks `imp`; every platform has at least the
//! functions below, returning [`CaptureError::Unsupported`](crate::CaptureError) where there is
//! no backend yet.

#[cfg(target_os = "linux")]
#[path = "linux/mod.rs"]
mod imp;

#[cfg(windows)]
#[path = "windows/mod.rs"]
mod imp;

#[cfg(not(any(target_os = "linux", windows)))]
#[path = "fallback.rs"]
mod imp;

pub use imp::*;

/// Which monitor of a display to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorChoice {
    /// The primary monitor, or the whole screen when there is none.
    Primary,
    /// The monitor at this position in the list (`--list-sources` shows it).
    Index(usize),
    /// The monitor with this name (such as `DP-1`).
    Name(String),
    /// The whole screen, all monitors.
    WholeScreen,
}

/// A monitor of a display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorInfo {
    /// Its name (RandR output name).
    pub name: String,
    /// Left edge on the screen.
    pub x: i32,
    /// Top edge on the screen.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether it is the primary monitor.
    pub primary: bool,
}

/// A display and its monitors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayInfo {
    /// The display's name (such as `:0`).
    pub name: String,
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// Its monitors, in RandR order.
    pub monitors: Vec<MonitorInfo>,
}

/// The monitor `choice` names in `list`; `None` for the whole screen (and for `Primary` when
/// no monitor is primary).
pub fn pick_monitor<'a>(
    list: &'a [MonitorInfo],
    choice: &MonitorChoice,
) -> Result<Option<&'a MonitorInfo>, crate::CaptureError> {
    Ok(match choice {
        MonitorChoice::WholeScreen => None,
        MonitorChoice::Primary => list.iter().find(|m| m.primary),
        MonitorChoice::Index(i) => {
            Some(list.get(*i).ok_or_else(|| crate::CaptureError::NoSuchMonitor(i.to_string()))?)
        }
        MonitorChoice::Name(n) => Some(
            list.iter()
                .find(|m| &m.name == n)
                .ok_or_else(|| crate::CaptureError::NoSuchMonitor(n.clone()))?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_are_picked_by_choice() {
        let m = |name: &str, x, primary| MonitorInfo {
            name: name.into(),
            x,
            y: 0,
            width: 1920,
            height: 1080,
            primary,
        };
        let list = [m("DP-1", 0, false), m("HDMI-1", 1920, true)];
        assert_eq!(pick_monitor(&list, &MonitorChoice::Primary).unwrap().unwrap().name, "HDMI-1");
        assert_eq!(pick_monitor(&list, &MonitorChoice::Index(0)).unwrap().unwrap().name, "DP-1");
        assert_eq!(pick_monitor(&list, &MonitorChoice::Name("HDMI-1".into())).unwrap().unwrap().x, 1920);
        assert_eq!(pick_monitor(&list, &MonitorChoice::WholeScreen).unwrap(), None);
        assert!(pick_monitor(&list, &MonitorChoice::Index(2)).is_err());
        assert!(pick_monitor(&list, &MonitorChoice::Name("VGA".into())).is_err());
        assert_eq!(pick_monitor(&[m("a", 0, false)], &MonitorChoice::Primary).unwrap(), None);
    }
}
