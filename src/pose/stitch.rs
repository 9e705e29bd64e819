//! Stitching the tracks.json files of a split job's segments into one for
//! the whole clip.
//!
//! Each segment was tracked on its own, so its track ids are its own. Two
//! neighbouring segments share the frames of their overlap: a track of the
//! earlier one and a track of the later one are the same person when their
//! landmarks on those shared frames lie together. The pairs are chosen by
//! the Hungarian method ([`super::assign::best_pairs`]) on that distance, so
//! which pair wins does not depend on the order tracks are listed in.
//! Within the overlap the earlier segment's poses are kept (its tracker
//! has run on, as an unsplit run's would), the later segment's only where
//! the earlier has none.

use std::collections::BTreeMap;

use super::assign::best_pairs;
use super::record::{FrameRecord, TrackRecord, TracksFile, FORMAT};
use super::track::TrackBook;

/// Two tracks are one person only when their landmarks on the shared
/// frames lie this close on average, as a share of the crop's size.
const MAX_DISTANCE: f32 = 0.25;

/// Shared frames with a pose on both sides needed to believe a match.
const MIN_SHARED: usize = 2;

/// Why segments cannot be stitched.
#[derive(Debug, thiserror::Error)]
pub enum StitchError {
    #[error("no segments to stitch")]
    Empty,
    #[error("segment {index} starts at frame {first}, after the previous one ends at {end}")]
    Gap { index: usize, first: u64, end: u64 },
    #[error("segment {index} was made with another preset or field of view")]
    Mismatch { index: usize },
}

impl StitchError {
    pub fn code(&self) -> &'static str {
        "tracks.stitch"
    }
}

/// Where a stitched track's thumbnail comes from: the file `name` beside
/// segment `segment`'s tracks.json, to be stored as `as_name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbnailSource {
    pub segment: usize,
    pub name: String,
    pub as_name: String,
}

/// The whole clip's tracks and the thumbnails they name.
pub struct Stitched {
    pub file: TracksFile,
    pub thumbnails: Vec<ThumbnailSource>,
}

struct Joined {
    id: u32,
    frames: BTreeMap<u64, FrameRecord>,
    thumbnail: Option<(usize, String)>,
}

/// Joins `segments` (in clip order, each starting inside or right after
/// the previous one) into one whole-clip tracks file.
pub fn stitch(segments: &[TracksFile]) -> Result<Stitched, StitchError> {
    let first = segments.first().ok_or(StitchError::Empty)?;
    let mut times = first.times.clone();
    let mut end = first.first_frame + first.times.len() as u64;
    let mut joined: Vec<Joined> = Vec::new();
    // Which joined track each track id of the previous segment went to.
    let mut previous: BTreeMap<u32, usize> = BTreeMap::new();
    for track in &first.tracks {
        previous.insert(track.summary.id, joined.len());
        joined.push(Joined {
            id: track.summary.id,
            frames: track.frames.iter().map(|f| (f.frame, f.clone())).collect(),
            thumbnail: track.thumbnail.clone().map(|n| (0, n)),
        });
    }
    let mut next_id = joined.iter().map(|j| j.id).max().unwrap_or(0) + 1;
    for (index, seg) in segments.iter().enumerate().skip(1) {
        if seg.first_frame > end {
            return Err(StitchError::Gap {
                index,
                first: seg.first_frame,
                end,
            });
        }
        if seg.preset != first.preset || seg.fov_deg != first.fov_deg {
            return Err(StitchError::Mismatch { index });
        }
        let shared = seg.first_frame..end;
        // The earlier segment's tracker has run since its start, as an
        // unsplit run's has; the later one's has only settled by the
        // overlap's end. So the overlap keeps the earlier poses.
        let cut = shared.end;
        let skip = (end - seg.first_frame) as usize;
        times.extend(seg.times.iter().skip(skip));
        end = end.max(seg.first_frame + seg.times.len() as u64);

        let earlier = &segments[index - 1].tracks;
        let later = &seg.tracks;
        let pairs = best_pairs(earlier.len(), later.len(), |i, j| {
            let d = distance(&earlier[i], &later[j], &shared)?;
            Some(1.0 - d / MAX_DISTANCE)
        });
        let mut current = BTreeMap::new();
        let matched: BTreeMap<usize, usize> = pairs.into_iter().map(|(i, j)| (j, i)).collect();
        for (j, track) in later.iter().enumerate() {
            let target = matched
                .get(&j)
                .and_then(|&i| previous.get(&earlier[i].summary.id).copied());
            let target = match target {
                Some(t) => t,
                None => {
                    joined.push(Joined {
                        id: next_id,
                        frames: BTreeMap::new(),
                        thumbnail: None,
                    });
                    next_id += 1;
                    joined.len() - 1
                }
            };
            let into = &mut joined[target];
            for f in &track.frames {
                if f.frame >= cut || !into.frames.contains_key(&f.frame) {
                    into.frames.insert(f.frame, f.clone());
                }
            }
            if into.thumbnail.is_none() {
                into.thumbnail = track.thumbnail.clone().map(|n| (index, n));
            }
            current.insert(track.summary.id, target);
        }
        previous = current;
    }

    let mut book = TrackBook::default();
    let mut thumbnails = Vec::new();
    let mut records = Vec::new();
    for j in joined.into_iter().filter(|j| !j.frames.is_empty()) {
        for f in j.frames.values() {
            if let Some(p) = f.to_pose() {
                book.record_pose(j.id, f.frame, &p);
            }
        }
        let thumbnail = j.thumbnail.map(|(segment, name)| {
            let as_name = format!("track-{}.jpg", j.id);
            thumbnails.push(ThumbnailSource {
                segment,
                name,
                as_name: as_name.clone(),
            });
            as_name
        });
        records.push((j.id, thumbnail, j.frames.into_values().collect::<Vec<_>>()));
    }
    let summaries: BTreeMap<u32, _> = book.summaries().into_iter().map(|s| (s.id, s)).collect();
    let tracks = records
        .into_iter()
        .filter_map(|(id, thumbnail, frames)| {
            Some(TrackRecord {
                summary: summaries.get(&id)?.clone(),
                thumbnail,
                frames,
            })
        })
        .collect();
    Ok(Stitched {
        file: TracksFile {
            format: FORMAT,
            video: first.video.clone(),
            first_frame: 0,
            times,
            preset: first.preset,
            models: first.models.clone(),
            fov_deg: first.fov_deg,
            tracks,
        },
        thumbnails,
    })
}

/// Mean distance of two tracks' image landmarks over the `shared` frames
/// where both have a pose, as a share of the crop's size; `None` when they
/// share too few frames to tell.
fn distance(a: &TrackRecord, b: &TrackRecord, shared: &std::ops::Range<u64>) -> Option<f32> {
    let b_frames: BTreeMap<u64, &FrameRecord> = b
        .frames
        .iter()
        .filter(|f| shared.contains(&f.frame))
        .map(|f| (f.frame, f))
        .collect();
    let mut sum = 0.0f32;
    let mut n = 0usize;
    for fa in a.frames.iter().filter(|f| shared.contains(&f.frame)) {
        let Some(fb) = b_frames.get(&fa.frame) else {
            continue;
        };
        let scale = fa.crop_px.max(fb.crop_px).max(1.0);
        let d: f32 = fa
            .image
            .iter()
            .zip(&fb.image)
            .map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
            .sum::<f32>()
            / fa.image.len().max(1) as f32;
        sum += d / scale;
        n += 1;
    }
    (n >= MIN_SHARED).then(|| sum / n as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Quality;
    use crate::pose::track::TrackSummary;
    use crate::pose::NUM_LANDMARKS;
    use crate::video::VideoInfo;

    /// A person standing at `x` pixels on `frame`.
    fn frame(frame: u64, x: f32) -> FrameRecord {
        FrameRecord {
            frame,
            crop_px: 200.0,
            presence: 0.9,
            image: (0..NUM_LANDMARKS)
                .map(|i| [x + i as f32, 100.0 + 5.0 * i as f32, 0.0, 0.9, 0.9])
                .collect(),
            world: vec![[0.0, 0.0, 0.0]; NUM_LANDMARKS],
        }
    }

    fn track(id: u32, frames: Vec<FrameRecord>) -> TrackRecord {
        TrackRecord {
            summary: TrackSummary {
                id,
                first_frame: 0,
                last_frame: 0,
                frames: 0,
                mean_box: crate::pose::roi::BoxPx {
                    xmin: 0.0,
                    ymin: 0.0,
                    xmax: 1.0,
                    ymax: 1.0,
                },
                coverage: 0.0,
            },
            thumbnail: Some(format!("track-{id}.jpg")),
            frames,
        }
    }

    fn segment(first: u64, end: u64, tracks: Vec<TrackRecord>) -> TracksFile {
        TracksFile {
            format: FORMAT,
            video: VideoInfo {
                container: "mp4".into(),
                codec: "h264".into(),
                width: 1920,
                height: 1080,
                upright_width: 1920,
                upright_height: 1080,
                rotation: Default::default(),
                duration_s: 1.0,
                fps: 30.0,
                expected_frames: 30,
                file_bytes: 1,
                pixel_format: "yuv420p".into(),
                bit_rate: 1,
                stream_index: 0,
            },
            first_frame: first,
            times: (first..end).map(|f| f as f64 / 30.0).collect(),
            preset: Quality::Fast,
            models: vec![],
            fov_deg: 60.0,
            tracks,
        }
    }

    /// Two people walk through three segments; each segment numbers them
    /// its own way (and lists them in another order). The stitched file
    /// has the two people, each over the whole clip, one pose per frame.
    #[test]
    fn tracks_are_joined_by_their_landmarks_in_the_overlap() {
        // Person A walks right from x=100, person B stands at x=900.
        let a = |f: u64| frame(f, 100.0 + 2.0 * f as f32);
        let b = |f: u64| frame(f, 900.0);
        let seg0 = segment(
            0,
            14,
            vec![
                track(1, (0..14).map(a).collect()),
                track(2, (0..14).map(b).collect()),
            ],
        );
        let seg1 = segment(
            10,
            24,
            vec![
                track(1, (10..24).map(b).collect()),
                track(2, (11..24).map(a).collect()),
            ],
        );
        let seg2 = segment(20, 30, vec![track(5, (20..30).map(a).collect())]);
        let s = stitch(&[seg0, seg1, seg2]).unwrap();
        assert_eq!(s.file.times.len(), 30);
        assert_eq!(s.file.first_frame, 0);
        let ids: Vec<u32> = s.file.tracks.iter().map(|t| t.summary.id).collect();
        assert_eq!(ids, [1, 2]);
        let walker = &s.file.tracks[0];
        let frames: Vec<u64> = walker.frames.iter().map(|f| f.frame).collect();
        assert_eq!(frames, (0..30).collect::<Vec<_>>());
        assert!(walker
            .frames
            .iter()
            .all(|f| f.image[0][0] == a(f.frame).image[0][0]));
        assert_eq!(
            (walker.summary.first_frame, walker.summary.last_frame),
            (0, 29)
        );
        assert_eq!(s.file.tracks[1].frames.len(), 24);
        assert_eq!(
            s.thumbnails,
            [
                ThumbnailSource {
                    segment: 0,
                    name: "track-1.jpg".into(),
                    as_name: "track-1.jpg".into()
                },
                ThumbnailSource {
                    segment: 0,
                    name: "track-2.jpg".into(),
                    as_name: "track-2.jpg".into()
                },
            ]
        );
    }

    /// Someone who only appears in a later segment is a new person, not
    /// glued to whoever left the earlier one.
    #[test]
    fn a_newcomer_far_away_is_a_new_track() {
        let seg0 = segment(
            0,
            14,
            vec![track(1, (0..14).map(|f| frame(f, 100.0)).collect())],
        );
        let seg1 = segment(
            10,
            24,
            vec![track(1, (10..24).map(|f| frame(f, 1500.0)).collect())],
        );
        let s = stitch(&[seg0, seg1]).unwrap();
        let ids: Vec<u32> = s.file.tracks.iter().map(|t| t.summary.id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(s.thumbnails[1].segment, 1);
        assert_eq!(s.thumbnails[1].as_name, "track-2.jpg");
        let gap = segment(30, 40, vec![]);
        assert!(matches!(
            stitch(&[segment(0, 14, vec![]), gap]),
            Err(StitchError::Gap { .. })
        ));
    }
}
