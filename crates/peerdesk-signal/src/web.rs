//! The browser client, embedded in the binary at build time from the repository's `web/`.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

macro_rules! web_files {
    ($($name:literal => $mime:literal),* $(,)?) => {
        /// Every file of the web client: name, content type, bytes.
        pub static FILES: &[(&str, &str, &[u8])] = &[
            $(($name, $mime, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $name)))),*
        ];
    };
}

web_files! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "main.js" => "text/javascript; charset=utf-8",
    "signaling.js" => "text/javascript; charset=utf-8",
    "peer.js" => "text/javascript; charset=utf-8",
    "protocol.js" => "text/javascript; charset=utf-8",
    "input.js" => "text/javascript; charset=utf-8",
    "view.js" => "text/javascript; charset=utf-8",
    "stats.js" => "text/javascript; charset=utf-8",
    "path.js" => "text/javascript; charset=utf-8",
    "sound.js" => "text/javascript; charset=utf-8",
    "pairing.js" => "text/javascript; charset=utf-8",
    "clipboard.js" => "text/javascript; charset=utf-8",
    "settings.js" => "text/javascript; charset=utf-8",
    "gamepad.js" => "text/javascript; charset=utf-8",
    "touch.js" => "text/javascript; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
}

fn serve(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// `GET /`: the client page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /{file}`: one of the client's files.
pub async fn asset(Path(file): Path<String>) -> Response {
    serve(&file)
}

#[cfg(test)]
mod tests {
    /// A module added to web/ but not here would be a 404 in the browser and a blank page.
    #[test]
    fn every_file_of_the_client_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_file() && !super::FILES.iter().any(|(n, _, _)| *n == name) {
                missing.push(name);
            }
        }
        assert!(missing.is_empty(), "web/ files not embedded in web.rs: {missing:?}");
    }
}
