//! DXGI Desktop Duplication: the fast path on Windows 8 and later. The GPU hands over each new
//! picture of one monitor as a texture, only when something changed (a still screen costs
//! nothing); it is copied on the GPU into a staging texture and read back once as BGRA.
//! The cursor is not in the picture (it is followed apart, as with GDI). When duplication is
//! lost (a mode change, a full-screen program, the lock screen or a UAC prompt) it is made
//! again; while it cannot be, the source is away as with GDI.
//!
//! Written against Microsoft's documentation of `IDXGIOutputDuplication`; Wine has no
//! duplication, so the tests there see the refusal and GDI.

#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use windows::Win32::Foundation::HMODULE;
use windows::Win32::Graphics::Direct3D::D3D_DRIVER_TYPE_UNKNOWN;
use windows::Win32::Graphics::Direct3D11::{
    D3D11_CPU_ACCESS_READ, D3D11_CREATE_DEVICE_BGRA_SUPPORT, D3D11_MAP_READ, D3D11_MAPPED_SUBRESOURCE,
    D3D11_SDK_VERSION, D3D11_TEXTURE2D_DESC, D3D11_USAGE_STAGING, D3D11CreateDevice, ID3D11Device,
    ID3D11DeviceContext, ID3D11Texture2D,
};
use windows::Win32::Graphics::Dxgi::Common::{DXGI_FORMAT_B8G8R8A8_UNORM, DXGI_SAMPLE_DESC};
use windows::Win32::Graphics::Dxgi::{
    CreateDXGIFactory1, DXGI_ERROR_ACCESS_LOST, DXGI_ERROR_WAIT_TIMEOUT, DXGI_OUTDUPL_FRAME_INFO,
    IDXGIAdapter1, IDXGIFactory1, IDXGIOutput1, IDXGIOutputDuplication, IDXGIResource,
};
use windows::core::Interface;

use crate::platform::MonitorChoice;
use crate::presence::{Change, Pacer};
use crate::{CaptureError, Capturer, Frame, tight_rows};

/// How often lost duplication is tried again.
const RETRY: Duration = Duration::from_millis(250);

/// One monitor's duplication and what reading it back needs.
pub struct DxgiCapturer {
    area: (i32, i32, u32, u32),
    adapter: IDXGIAdapter1,
    output: IDXGIOutput1,
    device: ID3D11Device,
    context: ID3D11DeviceContext,
    duplication: Option<IDXGIOutputDuplication>,
    staging: Option<(ID3D11Texture2D, u32, u32)>,
    pace: Pacer,
}

// SAFETY: D3D11 devices and DXGI objects are free-threaded; the immediate context is not, and
// the capturer (its only user) is used by one thread at a time (the capture thread).
unsafe impl Send for DxgiCapturer {}

impl std::fmt::Debug for DxgiCapturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DxgiCapturer").field("area", &self.area).finish_non_exhaustive()
    }
}

/// The adapter and output whose desktop rectangle is `area`.
fn find_output(area: (i32, i32, u32, u32)) -> Result<(IDXGIAdapter1, IDXGIOutput1), String> {
    // SAFETY: plain COM calls; every interface returned is owned by its wrapper.
    unsafe {
        let factory: IDXGIFactory1 = CreateDXGIFactory1().map_err(|e| format!("no DXGI factory ({e})"))?;
        let mut a = 0;
        while let Ok(adapter) = factory.EnumAdapters1(a) {
            let mut o = 0;
            while let Ok(output) = adapter.EnumOutputs(o) {
                if let Ok(desc) = output.GetDesc() {
                    let r = desc.DesktopCoordinates;
                    let rect = (r.left, r.top, (r.right - r.left) as u32, (r.bottom - r.top) as u32);
                    if rect.0 == area.0 && rect.1 == area.1 && rect.2 & !1 == area.2 && rect.3 & !1 == area.3
                    {
                        let output1 = output
                            .cast::<IDXGIOutput1>()
                            .map_err(|e| format!("the output has no duplication interface ({e})"))?;
                        return Ok((adapter, output1));
                    }
                }
                o += 1;
            }
            a += 1;
        }
    }
    Err("no DXGI output shows that monitor (a remote or virtual display?)".into())
}

impl DxgiCapturer {
    /// Duplicates the monitor `choice` names; the error says why not (for the log line that
    /// names the path taken).
    pub fn open(choice: &MonitorChoice) -> Result<Self, String> {
        let desktop = super::list_monitors().map_err(|e| e.to_string())?;
        let monitor = crate::platform::pick_monitor(&desktop.monitors, choice).map_err(|e| e.to_string())?;
        let area = match (monitor, desktop.monitors.as_slice()) {
            (Some(m), _) | (None, [m]) => (m.x, m.y, m.width & !1, m.height & !1),
            (None, _) => {
                return Err("it duplicates one monitor at a time, and all of them were asked for".into());
            }
        };
        let (adapter, output) = find_output(area)?;
        let mut device = None;
        let mut context = None;
        // SAFETY: the out-pointers are valid Options the call fills.
        unsafe {
            D3D11CreateDevice(
                &adapter,
                D3D_DRIVER_TYPE_UNKNOWN,
                HMODULE::default(),
                D3D11_CREATE_DEVICE_BGRA_SUPPORT,
                None,
                D3D11_SDK_VERSION,
                Some(&raw mut device),
                None,
                Some(&raw mut context),
            )
        }
        .map_err(|e| format!("no Direct3D 11 device on that adapter ({e})"))?;
        let (Some(device), Some(context)) = (device, context) else {
            return Err("Direct3D 11 gave no device".into());
        };
        let now = Instant::now();
        let mut capturer = Self {
            area,
            adapter,
            output,
            device,
            context,
            duplication: None,
            staging: None,
            pace: Pacer::new(RETRY, now),
        };
        capturer.duplicate().map_err(|e| format!("duplication refused ({e})"))?;
        Ok(capturer)
    }

    /// (Re)starts duplication of the output.
    fn duplicate(&mut self) -> windows::core::Result<()> {
        self.duplication = None;
        // SAFETY: a COM call with our live device.
        let dup = unsafe { self.output.DuplicateOutput(&self.device)? };
        self.duplication = Some(dup);
        Ok(())
    }

    /// A staging texture of `w` x `h` the CPU can read, made once per size.
    fn staging(&mut self, w: u32, h: u32) -> windows::core::Result<ID3D11Texture2D> {
        if let Some((t, sw, sh)) = &self.staging
            && (*sw, *sh) == (w, h)
        {
            return Ok(t.clone());
        }
        let desc = D3D11_TEXTURE2D_DESC {
            Width: w,
            Height: h,
            MipLevels: 1,
            ArraySize: 1,
            Format: DXGI_FORMAT_B8G8R8A8_UNORM,
            SampleDesc: DXGI_SAMPLE_DESC { Count: 1, Quality: 0 },
            Usage: D3D11_USAGE_STAGING,
            BindFlags: 0,
            CPUAccessFlags: D3D11_CPU_ACCESS_READ.0 as u32,
            MiscFlags: 0,
        };
        let mut texture = None;
        // SAFETY: `desc` is a valid description; the out-pointer is a valid Option.
        unsafe { self.device.CreateTexture2D(&raw const desc, None, Some(&raw mut texture))? };
        let texture = texture.ok_or_else(|| windows::core::Error::from(DXGI_ERROR_ACCESS_LOST))?;
        self.staging = Some((texture.clone(), w, h));
        Ok(texture)
    }

    /// The next new picture, waiting at most `wait`; `None` when nothing changed meanwhile.
    fn acquire(&mut self, wait: Duration, start: Instant) -> windows::core::Result<Option<Frame>> {
        let Some(dup) = self.duplication.clone() else { return Err(DXGI_ERROR_ACCESS_LOST.into()) };
        let mut info = DXGI_OUTDUPL_FRAME_INFO::default();
        let mut resource: Option<IDXGIResource> = None;
        let ms = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: the out-pointers are valid; a frame acquired is released below on every path.
        match unsafe { dup.AcquireNextFrame(ms, &raw mut info, &raw mut resource) } {
            Err(e) if e.code() == DXGI_ERROR_WAIT_TIMEOUT => return Ok(None),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let result = (|| {
            // Only the pointer moved: no new picture.
            if info.LastPresentTime == 0 {
                return Ok(None);
            }
            let Some(resource) = resource else { return Ok(None) };
            let texture: ID3D11Texture2D = resource.cast()?;
            let mut desc = D3D11_TEXTURE2D_DESC::default();
            // SAFETY: `desc` is a valid out-pointer.
            unsafe { texture.GetDesc(&raw mut desc) };
            if desc.Format != DXGI_FORMAT_B8G8R8A8_UNORM {
                // HDR or a wide-gamut desktop: not a format we read.
                return Err(windows::core::Error::new(
                    DXGI_ERROR_ACCESS_LOST,
                    "the desktop is not 8-bit BGRA",
                ));
            }
            let (w, h) = (desc.Width & !1, desc.Height & !1);
            let staging = self.staging(desc.Width, desc.Height)?;
            let mut mapped = D3D11_MAPPED_SUBRESOURCE::default();
            // SAFETY: both textures are ours and alive; the staging texture is mapped for
            // reading, read within RowPitch * Height bytes, and unmapped before it is used again.
            let data = unsafe {
                self.context.CopyResource(&staging, &texture);
                self.context.Map(&staging, 0, D3D11_MAP_READ, 0, Some(&raw mut mapped))?;
                let pitch = mapped.RowPitch as usize;
                let bytes =
                    std::slice::from_raw_parts(mapped.pData.cast::<u8>(), pitch * desc.Height as usize);
                let data = tight_rows(bytes, pitch, w as usize * 4, h as usize);
                self.context.Unmap(&staging, 0);
                data
            };
            let Some(data) = data else { return Ok(None) };
            self.area.2 = w;
            self.area.3 = h;
            Ok(Some(Frame {
                width: w,
                height: h,
                stride: w as usize * 4,
                data,
                captured_at: start,
                capture_time: start.elapsed(),
            }))
        })();
        // SAFETY: the frame acquired above.
        let _ = unsafe { dup.ReleaseFrame() };
        result
    }
}

impl Capturer for DxgiCapturer {
    fn size(&self) -> (u32, u32) {
        (self.area.2, self.area.3)
    }

    fn set_min_interval(&mut self, interval: Duration) {
        self.pace.set_min_interval(interval);
    }

    fn away(&self) -> Option<String> {
        self.pace.presence.away().map(str::to_owned)
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, CaptureError> {
        // Not more often than the stream's frame rate; between, the GPU waits for a change.
        if !self.pace.wait(deadline) {
            return Ok(None);
        }
        if self.duplication.is_none()
            && let Err(e) = self.duplicate()
        {
            if self.pace.presence.failed(super::gdi::AWAY, Instant::now()) == Change::Left {
                tracing::warn!(
                    "cannot duplicate the desktop ({e}); viewers see the last picture until it is back"
                );
            }
            return Ok(None);
        }
        let start = Instant::now();
        match self.acquire(deadline.saturating_duration_since(start), start) {
            Ok(Some(frame)) => {
                self.pace.taken(start);
                if self.pace.presence.succeeded() == Change::Back {
                    tracing::info!("the desktop is back: streaming again");
                }
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(e) if e.code() == DXGI_ERROR_ACCESS_LOST => {
                // A mode change, a full-screen program, a desktop switch: duplicate again (now;
                // the retry pace applies once that fails).
                tracing::info!("desktop duplication was lost ({}); starting it again", e.message());
                self.duplication = None;
                self.staging = None;
                Ok(None)
            }
            Err(e) => {
                self.duplication = None;
                if self.pace.presence.failed(super::gdi::AWAY, start) == Change::Left {
                    tracing::warn!("desktop duplication failed ({e}); trying again");
                }
                Ok(None)
            }
        }
    }
}

impl DxgiCapturer {
    /// The adapter the monitor is on (for the log line).
    pub fn adapter_name(&self) -> String {
        // SAFETY: a COM call on our adapter.
        unsafe { self.adapter.GetDesc1() }
            .map(|d| {
                let end = d.Description.iter().position(|&c| c == 0).unwrap_or(d.Description.len());
                String::from_utf16_lossy(&d.Description[..end])
            })
            .unwrap_or_else(|_| "an unnamed adapter".into())
    }
}
