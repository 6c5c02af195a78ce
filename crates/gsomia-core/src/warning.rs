//! The missile warning (SPEC §8c): the kind of item the 2023 trilateral real-time mechanism
//! carries, as a STIX 2.1 custom object (STIX 2.1 §11.1: a type beginning `x-`).
//!
//! ```json
//! {
//!   "type": "x-gsomia-missile-warning", "spec_version": "2.1",
//!   "id": "x-gsomia-missile-warning--<UUID>",
//!   "created": "2023-12-18T02:31:00Z", "modified": "2023-12-18T02:31:00Z",
//!   "launched": "2023-12-18T02:30:10Z",
//!   "launch_point": {"latitude": 39.03, "longitude": 125.75},
//!   "track": [{"time": "2023-12-18T02:33:00Z", "latitude": 40.1, "longitude": 130.2,
//!              "altitude_km": 6000.0}],
//!   "impact_point": {"latitude": 40.9, "longitude": 138.6},
//!   "impact_time": "2023-12-18T03:43:00Z"
//! }
//! ```
//!
//! A warning is checked when it is published or received, like every item's STIX properties:
//! the presumed launch point, a flight path of at least one point in time order, and the
//! expected point of impact, each latitude in [-90, 90] and longitude in [-180, 180], altitudes
//! not negative; the launch no later than the first point of the track, the predicted impact no
//! earlier than the last. Other properties (`name`, `confidence`, `description`) are the
//! publisher's, as STIX allows; a property this kind defines is never left unchecked.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::input::{Invalid, Problem};

/// The STIX type of a missile warning.
pub const TYPE: &str = "x-gsomia-missile-warning";

/// Checks a missile warning's own properties (the common STIX ones are checked by the caller).
pub fn check(object: &Map<String, Value>) -> Result<(), Invalid> {
    let launched = time_at(object, "launched", "object.launched")?;
    point(object.get("launch_point"), "object.launch_point", false)?;
    let Some(track) = object.get("track").and_then(Value::as_array) else {
        return bad(
            "object.track",
            "a warning needs `track`, a list of points".into(),
        );
    };
    if track.is_empty() {
        return bad(
            "object.track",
            "a warning's track has at least one point".into(),
        );
    }
    let mut last = launched;
    for (n, p) in track.iter().enumerate() {
        let place = format!("object.track[{n}]");
        let Some(fields) = p.as_object() else {
            return bad(&place, "a track point is an object".into());
        };
        let at = time_at(fields, "time", &format!("{place}.time"))?;
        point(Some(p), &place, true)?;
        if at < last {
            let before = match n {
                0 => "the launch".to_owned(),
                _ => format!("point {}", n - 1),
            };
            return bad(
                &format!("{place}.time"),
                format!("the track is in time order: this point is earlier than {before}"),
            );
        }
        last = at;
    }
    point(object.get("impact_point"), "object.impact_point", false)?;
    let impact = time_at(object, "impact_time", "object.impact_time")?;
    if impact < last {
        return bad(
            "object.impact_time",
            "the predicted impact is no earlier than the launch and the last point of the track"
                .into(),
        );
    }
    Ok(())
}

fn bad(place: &str, message: String) -> Result<(), Invalid> {
    Err(Invalid::at(place, Problem::Stix(message)))
}

fn time_at(object: &Map<String, Value>, key: &str, place: &str) -> Result<OffsetDateTime, Invalid> {
    let text = object.get(key).and_then(Value::as_str);
    match text.map(|t| OffsetDateTime::parse(t, &Rfc3339)) {
        Some(Ok(t)) => Ok(t),
        Some(Err(_)) => Err(Invalid::at(
            place,
            Problem::Stix(format!(
                "`{}` is not an RFC 3339 timestamp",
                text.unwrap_or("")
            )),
        )),
        None => Err(Invalid::at(
            place,
            Problem::Stix(format!("a warning needs `{key}`, an RFC 3339 timestamp")),
        )),
    }
}

/// A position: `latitude` and `longitude` in degrees, and on a track `altitude_km` (not
/// negative, optional).
fn point(value: Option<&Value>, place: &str, on_track: bool) -> Result<(), Invalid> {
    let Some(p) = value.and_then(Value::as_object) else {
        return bad(
            place,
            "a position is an object with `latitude` and `longitude`".into(),
        );
    };
    let number = |key: &str, low: f64, high: f64| -> Result<(), Invalid> {
        match p.get(key).and_then(Value::as_f64) {
            Some(v) if (low..=high).contains(&v) => Ok(()),
            Some(v) => bad(
                &format!("{place}.{key}"),
                format!("{v} is outside [{low}, {high}]"),
            ),
            None => bad(
                &format!("{place}.{key}"),
                format!("a position needs a number `{key}`"),
            ),
        }
    };
    number("latitude", -90.0, 90.0)?;
    number("longitude", -180.0, 180.0)?;
    if on_track && p.contains_key("altitude_km") {
        number("altitude_km", 0.0, 100_000.0)?;
    }
    Ok(())
}
