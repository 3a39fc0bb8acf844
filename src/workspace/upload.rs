//! Forms that carry a file (`multipart/form-data`): the spreadsheet for the
//! import and a committee's meeting plan, read for `guard::Uploaded`.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::StatusCode;
use axum::response::Response;

use crate::config::Config;
use crate::web::form::Fields;
use crate::web::pages::message;

/// The largest file the workspace takes (a spreadsheet of some 300 000
/// partnerships).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// The form's text fields, and its file (name, bytes) if one was chosen.
pub(super) async fn read(
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(Fields, Option<(String, Vec<u8>)>), String> {
    let mut multipart = multipart.map_err(|e| e.body_text())?;
    let mut fields = Vec::new();
    let mut file = None;
    while let Some(part) = multipart.next_field().await.map_err(|e| e.body_text())? {
        let name = part.name().unwrap_or_default().to_string();
        match part.file_name().map(str::to_string) {
            Some(file_name) => {
                let bytes = part.bytes().await.map_err(|e| e.body_text())?;
                // A file input left empty still sends a part without a name.
                if !file_name.is_empty() || !bytes.is_empty() {
                    file = Some((file_name, bytes.to_vec()));
                }
            }
            None => {
                let text = part.text().await.map_err(|e| e.body_text())?;
                fields.push((name, text));
            }
        }
    }
    Ok((Fields(fields), file))
}

/// The answer to a form that could not be read at all.
pub fn unreadable(cfg: &Config, detail: &str) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        Some(cfg),
        "Filen kunde inte tas emot",
        &[
            format!("Formuläret kom inte fram helt ({detail}). Ingenting har ändrats."),
            format!("En fil får vara högst {} MB.", MAX_BYTES / (1024 * 1024)),
        ],
    )
}
