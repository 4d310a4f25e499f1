//! Reading an HTTP answer (STS, JWKS, a token endpoint) without letting it grow past a cap.

/// Why a capped body could not be read.
pub(crate) enum CappedBodyError {
    /// The answer announced or sent more than the cap.
    TooLarge,
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// Reads `response`'s body, refusing it as soon as it exceeds `cap` bytes (by its announced
/// length, or by what arrives).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, CappedBodyError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(CappedBodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(CappedBodyError::Transport)? {
        if body.len() + chunk.len() > cap {
            return Err(CappedBodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
