//! Per-account retention: how long uploads and outputs are kept, and the
//! no-retain mode, as the account chose them or as the service's
//! configuration says where it chose nothing. `GET` and `PUT
//! /v1/account/retention` read and change them; the sweep
//! ([`super::sweep`]) and the worker act on them.

use axum::extract::State;
use serde_json::Value;

use super::api_types::{RetentionDefaultsView, RetentionUpdate, RetentionView};
use super::app::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::ServiceConfig;
use crate::db::accounts::Retention;
use crate::db::retention::RetentionDefaults;

/// The retention in force for one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub upload_days: i64,
    /// `None`: outputs are kept until deleted.
    pub output_days: Option<i64>,
    pub no_retain: bool,
}

/// The service's defaults, as the sweep's queries take them.
pub fn defaults(cfg: &ServiceConfig) -> RetentionDefaults {
    RetentionDefaults {
        upload_days: cfg.upload_retention_days,
        output_days: cfg.output_retention_days,
    }
}

/// What the account chose, filled in from the configuration.
pub fn policy(cfg: &ServiceConfig, r: &Retention) -> Policy {
    Policy {
        upload_days: r.upload_days.unwrap_or(cfg.upload_retention_days),
        output_days: r.output_days.unwrap_or(cfg.output_retention_days),
        no_retain: r.no_retain,
    }
}

/// When a no-retain job's outputs expire, for a job ending at `finished_ms`.
pub fn no_retain_expiry(cfg: &ServiceConfig, finished_ms: i64) -> i64 {
    finished_ms + cfg.no_retain_output_hours * 3600 * 1000
}

fn view(cfg: &ServiceConfig, r: &Retention) -> RetentionView {
    let p = policy(cfg, r);
    RetentionView {
        upload_retention_days: p.upload_days,
        output_retention_days: p.output_days,
        no_retain: p.no_retain,
        no_retain_output_hours: cfg.no_retain_output_hours,
        custom: *r != Retention::default(),
        defaults: RetentionDefaultsView {
            upload_retention_days: cfg.upload_retention_days,
            output_retention_days: cfg.output_retention_days,
        },
        max_retention_days: cfg.max_retention_days,
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("retention.bad_value", message)
}

/// Reads a `PUT` body: the fields, their types and their ranges. Anything
/// wrong is refused as a whole, before anything is written.
pub fn parse_update(cfg: &ServiceConfig, body: Value) -> ApiResult<Retention> {
    if !body.is_object() {
        return Err(bad("the body must be a JSON object"));
    }
    let u: RetentionUpdate = serde_json::from_value(body).map_err(|e| bad(e.to_string()))?;
    let max = cfg.max_retention_days;
    let in_range = |d: i64| (1..=max).contains(&d);
    if !in_range(u.upload_retention_days) {
        return Err(bad(format!(
            "upload_retention_days must be a whole number of days from 1 to {max}"
        )));
    }
    if u.output_retention_days.is_some_and(|d| !in_range(d)) {
        return Err(bad(format!(
            "output_retention_days must be a whole number of days from 1 to {max}, or null to \
             keep outputs until they are deleted"
        )));
    }
    Ok(Retention {
        upload_days: Some(u.upload_retention_days),
        output_days: Some(u.output_retention_days),
        no_retain: u.no_retain,
    })
}

/// `GET /v1/account/retention`.
#[utoipa::path(
    get,
    path = "/v1/account/retention",
    tag = "account",
    operation_id = "get_retention",
    summary = "How long the account's uploads and outputs are kept",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The retention in force", body = RetentionView)),
)]
pub async fn get(State(state): State<AppState>, caller: Caller) -> Json<RetentionView> {
    Json(view(&state.cfg, &caller.account.retention))
}

/// `PUT /v1/account/retention {upload_retention_days,
/// output_retention_days, no_retain}`. A shorter retention applies at the
/// next sweep, to what is stored already as well.
#[utoipa::path(
    put,
    path = "/v1/account/retention",
    tag = "account",
    operation_id = "set_retention",
    summary = "Change retention {upload_retention_days, output_retention_days, no_retain}",
    security(("bearer" = []), ("cookie" = [])),
    request_body = RetentionUpdate,
    responses((status = 200, description = "The retention now in force", body = RetentionView)),
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Value>,
) -> ApiResult<Json<RetentionView>> {
    let chosen = parse_update(&state.cfg, body)?;
    if !state.db.set_retention(&caller.account.id, &chosen).await? {
        return Err(ApiError::unauthorized());
    }
    tracing::info!(account = %caller.account.id, ?chosen, "retention changed");
    Ok(Json(view(&state.cfg, &chosen)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> ServiceConfig {
        ServiceConfig::default()
    }

    #[test]
    fn an_account_that_chose_nothing_follows_the_configuration() {
        let mut c = cfg();
        c.output_retention_days = Some(90);
        let p = policy(&c, &Retention::default());
        assert_eq!(
            p,
            Policy {
                upload_days: 30,
                output_days: Some(90),
                no_retain: false
            }
        );
        let kept = Retention {
            output_days: Some(None),
            ..Retention::default()
        };
        assert_eq!(policy(&c, &kept).output_days, None, "an explicit keep");
    }

    #[test]
    fn the_configuration_bounds_retention() {
        assert!(cfg().validate().is_ok());
        let bad: [fn(&mut ServiceConfig); 5] = [
            |c| c.upload_retention_days = -1,
            |c| c.upload_retention_days = 400,
            |c| c.output_retention_days = Some(0),
            |c| c.no_retain_output_hours = 0,
            |c| c.max_retention_days = 100_000,
        ];
        for (i, tweak) in bad.iter().enumerate() {
            let mut c = cfg();
            tweak(&mut c);
            assert!(c.validate().is_err(), "case {i}");
        }
        // 0 days is allowed for the default: uploads go at the next sweep.
        let mut c = cfg();
        c.upload_retention_days = 0;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn updates_are_checked_whole() {
        let c = cfg();
        let ok = parse_update(
            &c,
            json!({"upload_retention_days": 7, "output_retention_days": null, "no_retain": true}),
        )
        .unwrap();
        assert_eq!(ok.output_days, Some(None));
        for bad in [
            json!({"upload_retention_days": -1, "output_retention_days": 5, "no_retain": false}),
            json!({"upload_retention_days": 0, "output_retention_days": 5, "no_retain": false}),
            json!({"upload_retention_days": 366, "output_retention_days": 5, "no_retain": false}),
            json!({"upload_retention_days": 7, "output_retention_days": 0, "no_retain": false}),
            json!({"upload_retention_days": 7, "output_retention_days": 1e12, "no_retain": false}),
            json!({"upload_retention_days": "7", "output_retention_days": 5, "no_retain": false}),
            json!({"upload_retention_days": 7.5, "output_retention_days": 5, "no_retain": false}),
            json!({"upload_retention_days": 7, "output_retention_days": 5, "no_retain": "yes"}),
            json!({"upload_retention_days": 7, "no_retain": false}),
            json!({"upload_retention_days": 7, "output_retention_days": 5, "no_retain": false, "x": 1}),
            json!([7, 5, false]),
        ] {
            let e = parse_update(&c, bad.clone()).unwrap_err();
            assert_eq!(e.code, "retention.bad_value", "{bad}");
        }
    }
}
