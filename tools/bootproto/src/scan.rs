//! Finding Limine requests in a loaded executable image.
//!
//! The protocol says: requests (and the base revision tag) are 8-byte aligned anywhere in
//! the loaded image; if start/end markers are present, only what lies between the last
//! start marker and the first end marker (after it) counts, which is mandatory from base
//! revision 2. A request id may occur only once; real Limine refuses to boot otherwise.

use crate::limine::{
    BASE_REVISION_MAGIC, COMMON_MAGIC, REQUESTS_END_MARKER, REQUESTS_START_MARKER, RequestKind,
    request,
};
use crate::read_u64;

/// A recognised request found in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundRequest {
    pub kind: RequestKind,
    /// Byte offset of the request in the image.
    pub offset: usize,
    /// The request revision the executable asked for.
    pub revision: u64,
}

/// The base revision tag found in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseRevisionTag {
    /// Byte offset of the tag (word 0) in the image.
    pub offset: usize,
    /// Word 2 as the executable wrote it.
    pub requested: u64,
}

/// Everything the scan found.
#[derive(Clone, Debug)]
pub struct ScanResult {
    /// The first base revision tag inside the window, if any.
    pub base_revision: Option<BaseRevisionTag>,
    /// Byte range `[start, end)` that was searched.
    pub window: (usize, usize),
    /// Whether a start or end marker delimited the window.
    pub delimited: bool,
    /// Number of requests with the common magic but an id this loader does not know.
    pub unknown: usize,
    /// id words 2 and 3 of the first unknown request (for the log).
    pub first_unknown: Option<[u64; 2]>,
    requests: [Option<FoundRequest>; RequestKind::COUNT],
}

impl ScanResult {
    /// The request of `kind`, if the executable has one.
    pub fn get(&self, kind: RequestKind) -> Option<FoundRequest> {
        self.requests[kind.index()]
    }

    /// All found requests, in [`RequestKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = FoundRequest> + '_ {
        self.requests.iter().flatten().copied()
    }
}

/// Why an image was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// The same request id appears twice inside the window.
    DuplicateRequest(RequestKind),
}

fn words_match(image: &[u8], off: usize, words: &[u64]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(i, w)| read_u64(image, off + i * 8) == Some(*w))
}

/// Computes the search window `[start, end)` and whether markers delimited it.
pub fn request_window(image: &[u8]) -> (usize, usize, bool) {
    let aligned_len = image.len() & !7;
    let mut start = 0;
    let mut delimited = false;
    let mut off = 0;
    while off + 32 <= aligned_len {
        if words_match(image, off, &REQUESTS_START_MARKER) {
            start = off + 32;
            delimited = true;
        }
        off += 8;
    }
    let mut end = aligned_len;
    let mut off = start;
    while off + 16 <= aligned_len {
        if words_match(image, off, &REQUESTS_END_MARKER) {
            end = off;
            delimited = true;
            break;
        }
        off += 8;
    }
    (start, end, delimited)
}

/// Scans `image` (the executable as loaded, starting at a page-aligned virtual address so
/// that image offsets and virtual addresses agree modulo 8).
pub fn scan(image: &[u8]) -> Result<ScanResult, ScanError> {
    let (start, end, delimited) = request_window(image);
    let mut result = ScanResult {
        base_revision: None,
        window: (start, end),
        delimited,
        unknown: 0,
        first_unknown: None,
        requests: [None; RequestKind::COUNT],
    };
    let mut off = start;
    while off + 8 <= end {
        if off + 24 <= end
            && result.base_revision.is_none()
            && words_match(image, off, &BASE_REVISION_MAGIC)
        {
            result.base_revision = Some(BaseRevisionTag {
                offset: off,
                requested: read_u64(image, off + 16).unwrap_or(0),
            });
            off += 24;
            continue;
        }
        if off + request::COMMON_SIZE <= end && words_match(image, off, &COMMON_MAGIC) {
            let id2 = read_u64(image, off + 16).unwrap_or(0);
            let id3 = read_u64(image, off + 24).unwrap_or(0);
            let revision = read_u64(image, off + request::REVISION).unwrap_or(0);
            match RequestKind::from_id(id2, id3) {
                Some(kind) => {
                    let slot = &mut result.requests[kind.index()];
                    if slot.is_some() {
                        return Err(ScanError::DuplicateRequest(kind));
                    }
                    *slot = Some(FoundRequest {
                        kind,
                        offset: off,
                        revision,
                    });
                }
                None => {
                    result.unknown += 1;
                    result.first_unknown.get_or_insert([id2, id3]);
                }
            }
            off += request::COMMON_SIZE;
            continue;
        }
        off += 8;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an image out of u64 words.
    fn image(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn req(kind: RequestKind, revision: u64) -> Vec<u64> {
        let id = kind.id();
        vec![COMMON_MAGIC[0], COMMON_MAGIC[1], id[0], id[1], revision, 0]
    }

    fn base(n: u64) -> Vec<u64> {
        vec![BASE_REVISION_MAGIC[0], BASE_REVISION_MAGIC[1], n]
    }

    #[test]
    fn whole_image_without_markers() {
        let mut w = vec![0xdead_beef, 7];
        w.extend(base(3));
        w.extend(req(RequestKind::Hhdm, 0));
        w.push(1);
        w.extend(req(RequestKind::Mp, 0));
        w.push(1); // MP flags
        let img = image(&w);
        let r = scan(&img).unwrap();
        assert!(!r.delimited);
        assert_eq!(r.window, (0, img.len()));
        assert_eq!(
            r.base_revision,
            Some(BaseRevisionTag {
                offset: 16,
                requested: 3
            })
        );
        assert_eq!(r.get(RequestKind::Hhdm).unwrap().offset, 40);
        assert_eq!(r.get(RequestKind::Mp).unwrap().offset, 40 + 48 + 8);
        assert_eq!(r.get(RequestKind::Rsdp), None);
        assert_eq!(r.iter().count(), 2);
    }

    #[test]
    fn only_between_last_start_and_first_end_marker() {
        let mut w = Vec::new();
        w.extend(req(RequestKind::Rsdp, 0)); // before the start markers: ignored
        w.extend(REQUESTS_START_MARKER);
        w.extend(req(RequestKind::Smbios, 0)); // between two start markers: ignored
        w.extend(REQUESTS_START_MARKER);
        w.extend(base(3));
        w.extend(req(RequestKind::MemoryMap, 0));
        w.extend(REQUESTS_END_MARKER);
        w.extend(req(RequestKind::Hhdm, 0)); // after the end marker: ignored
        w.extend(REQUESTS_END_MARKER);
        let img = image(&w);
        let r = scan(&img).unwrap();
        assert!(r.delimited);
        let kinds: Vec<_> = r.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![RequestKind::MemoryMap]);
        assert!(r.base_revision.is_some());
    }

    #[test]
    fn base_revision_outside_window_is_ignored() {
        let mut w = base(3);
        w.extend(REQUESTS_START_MARKER);
        w.extend(req(RequestKind::Hhdm, 0));
        w.extend(REQUESTS_END_MARKER);
        let r = scan(&image(&w)).unwrap();
        assert_eq!(r.base_revision, None);
        assert!(r.get(RequestKind::Hhdm).is_some());
    }

    #[test]
    fn only_end_marker_limits_the_tail() {
        let mut w = req(RequestKind::Hhdm, 0);
        w.extend(REQUESTS_END_MARKER);
        w.extend(req(RequestKind::Rsdp, 0));
        let r = scan(&image(&w)).unwrap();
        assert!(r.get(RequestKind::Hhdm).is_some());
        assert!(r.get(RequestKind::Rsdp).is_none());
    }

    #[test]
    fn request_must_fit_inside_window() {
        // A request whose response field would cross the end marker does not count.
        let mut w = vec![COMMON_MAGIC[0], COMMON_MAGIC[1]];
        let id = RequestKind::Hhdm.id();
        w.extend([id[0], id[1]]);
        w.extend(REQUESTS_END_MARKER);
        let r = scan(&image(&w)).unwrap();
        assert_eq!(r.iter().count(), 0);
    }

    #[test]
    fn unaligned_ids_are_not_found() {
        let mut img = vec![0u8; 4];
        img.extend(image(&req(RequestKind::Hhdm, 0)));
        img.extend([0u8; 4]);
        let r = scan(&img).unwrap();
        assert_eq!(r.iter().count(), 0);
    }

    #[test]
    fn duplicates_are_rejected_and_unknown_counted() {
        let mut w = req(RequestKind::Hhdm, 0);
        w.extend(req(RequestKind::Hhdm, 0));
        assert_eq!(
            scan(&image(&w)).unwrap_err(),
            ScanError::DuplicateRequest(RequestKind::Hhdm)
        );
        let mut w = vec![COMMON_MAGIC[0], COMMON_MAGIC[1], 0x1234, 0x5678, 0, 0];
        w.extend(req(RequestKind::Hhdm, 0));
        let r = scan(&image(&w)).unwrap();
        assert_eq!(r.unknown, 1);
        assert_eq!(r.first_unknown, Some([0x1234, 0x5678]));
        assert!(r.get(RequestKind::Hhdm).is_some());
    }

    #[test]
    fn revision_is_reported_and_trailing_bytes_ignored() {
        let mut img = image(&req(RequestKind::Module, 1));
        img.extend([1, 2, 3]);
        let r = scan(&img).unwrap();
        assert_eq!(r.get(RequestKind::Module).unwrap().revision, 1);
        assert_eq!(r.window.1, 48);
    }
}
