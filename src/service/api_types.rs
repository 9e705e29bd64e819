//! The API's wire format: every JSON body a route takes or answers, as a
//! Rust type. Handlers build these instead of ad-hoc `json!` values, and
//! the OpenAPI document's schemas are derived from them (see
//! [`super::routes`]), so the document cannot describe a field the server
//! does not send, nor miss one it does.
//!
//! Field names, nesting and `null`s are the contract the portal
//! (`web/src/api.js`) and API clients rely on: an `Option` field of an
//! answer is sent as `null`, never left out (so its schema says
//! `required`). The types the API passes through unchanged
//! from the database or the store ([`ApiKey`], [`LedgerEntry`], [`Webhook`], [`Attempt`],
//! [`Presigned`], [`JobState`], [`Quality`], [`JobOptions`]) derive their
//! schema where they are defined.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::job::{JobOptions, OutputFile};
use crate::config::Quality;
use crate::db::accounts::{Account, ApiKey};
use crate::db::jobs::{Job, JobState};
use crate::db::ledger::LedgerEntry;
use crate::db::uploads::Upload;
use crate::db::webhooks::{Attempt, Webhook};
use crate::store::Presigned;

// ---------------------------------------------------------------- errors

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable code to branch on and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, dotted (for example `auth.required`, `credits.insufficient`).
    pub code: String,
    pub message: String,
}

// ------------------------------------------------------- accounts, auth

/// `POST /v1/auth/login`.
#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// `POST /v1/auth/signup`.
#[derive(Deserialize, ToSchema)]
pub struct Signup {
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    /// The user confirms being 18 or over; without it no account is made
    /// (`auth.age_unconfirmed`).
    #[serde(default)]
    pub over_18: bool,
    /// Consent to news and offers by mail; off unless sent as true.
    #[serde(default)]
    pub marketing_emails: bool,
}

/// The account as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub email: String,
    /// Whether a link mailed to `email` was followed.
    pub email_verified: bool,
    pub tier: String,
    pub credits: Credits,
    pub created_ms: i64,
    pub notifications: NotificationChoices,
}

/// Which mails an account gets beyond its security ones; also the body
/// of `PUT /v1/account/notifications` (both, every time).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationChoices {
    /// A mail when a job succeeds or fails (sent only to a verified address).
    pub job_emails: bool,
    /// Consent to news and offers.
    pub marketing_emails: bool,
}

/// `GET /v1/account/notifications` and the answer to `PUT`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationsView {
    #[serde(flatten)]
    pub choices: NotificationChoices,
    /// False when this server sends no mail at all: nothing is mailed, and
    /// email changes, verification and password resets are unavailable
    /// (`mail.disabled`).
    pub mail_enabled: bool,
    pub email_verified: bool,
}

/// `POST /v1/account/password`.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 8 characters.
    pub new_password: String,
}

/// `POST /v1/account/email`: the new address gets a link that makes the
/// change; the current password proves it is the owner asking.
#[derive(Deserialize, ToSchema)]
pub struct EmailChange {
    pub new_email: String,
    pub password: String,
}

/// The answer to `POST /v1/account/email`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailChangePending {
    /// Where the confirmation link went; the account keeps its address
    /// until it is followed.
    pub pending_email: String,
    /// When the link stops working (ms since the epoch).
    pub expires_ms: i64,
}

/// `POST /v1/auth/password-reset`.
#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    pub email: String,
}

/// `POST /v1/auth/password-reset/confirm`.
#[derive(Deserialize, ToSchema)]
pub struct ResetConfirm {
    /// The token from the mailed link.
    pub token: String,
    /// At least 8 characters.
    pub new_password: String,
}

/// `POST /v1/auth/verify-email` and `/v1/auth/confirm-email`.
#[derive(Deserialize, ToSchema)]
pub struct LinkToken {
    /// The token from the mailed link.
    pub token: String,
}

/// The answer to following an address link: the account's address now.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailConfirmed {
    pub email: String,
    pub email_verified: bool,
}

/// An account's credits: `available` is what a new job may reserve.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credits {
    pub balance: i64,
    /// Held for accepted jobs that have not finished.
    pub reserved: i64,
    pub available: i64,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        AccountView {
            id: a.id.clone(),
            email: a.email.clone(),
            email_verified: a.email_verified_ms.is_some(),
            tier: a.tier.clone(),
            credits: Credits {
                balance: a.balance,
                reserved: a.reserved,
                available: a.balance - a.reserved,
            },
            created_ms: a.created_ms,
            notifications: NotificationChoices {
                job_emails: a.notifications.job_emails,
                marketing_emails: a.notifications.marketing_emails,
            },
        }
    }
}

/// `DELETE /v1/account`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDeleted {
    pub deleted: bool,
    /// Stored objects removed.
    pub objects: u64,
}

/// `GET /v1/account/retention`, and the answer to `PUT`: how long the
/// account's videos and outputs are kept, as in force now.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionView {
    /// Days an upload is kept after it arrives.
    pub upload_retention_days: i64,
    /// Days a job's outputs are kept after it ends; `null`: until deleted.
    #[schema(required = true)]
    pub output_retention_days: Option<i64>,
    /// Each upload is deleted as soon as its job has decoded it, and the
    /// job's outputs expire `no_retain_output_hours` after it ends.
    pub no_retain: bool,
    pub no_retain_output_hours: i64,
    /// False while the account follows the service's defaults.
    pub custom: bool,
    pub defaults: RetentionDefaultsView,
    /// The longest retention that may be chosen, days.
    pub max_retention_days: i64,
}

/// The service's retention for accounts that did not choose their own.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionDefaultsView {
    pub upload_retention_days: i64,
    #[schema(required = true)]
    pub output_retention_days: Option<i64>,
}

/// `PUT /v1/account/retention`: every field is required (a whole
/// setting, not a patch); `output_retention_days` may be `null` (keep).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionUpdate {
    /// 1 to `max_retention_days`.
    pub upload_retention_days: i64,
    /// 1 to `max_retention_days`, or `null` to keep outputs until deleted.
    // Required although nullable: a client that forgets it must not
    // silently switch its outputs to "kept".
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true)]
    pub output_retention_days: Option<i64>,
    pub no_retain: bool,
}

/// `POST /v1/api-keys`.
#[derive(Deserialize, ToSchema)]
pub struct NewKey {
    /// A label to tell keys apart (at most 100 characters are kept).
    #[serde(default)]
    pub name: String,
}

/// A new API key: `key` is the secret, shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: String,
    pub api_key: ApiKey,
}

/// `GET /v1/api-keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}

// ------------------------------------------------------ credits, prices

/// The ledger and the balance it adds up to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ledger {
    pub balance: i64,
    pub reserved: i64,
    pub available: i64,
    pub entries: Vec<LedgerEntry>,
}

/// What a clip costs: the per-second price, the per-job minimum and each
/// quality preset's factor on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceTable {
    pub credits_per_second: f64,
    pub min_job_credits: i64,
    pub quality_factors: QualityFactors,
    /// The preset a job gets when it names none.
    pub default_quality: Quality,
    /// What a re-solve job costs.
    pub resolve_credits: i64,
}

/// Factor on the per-second price per quality preset.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualityFactors {
    pub fast: f64,
    pub balanced: f64,
    pub best: f64,
}

/// `GET /v1/pricing`: the price table, the tiers and whether the landing
/// page has a demo.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pricing {
    #[serde(flatten)]
    pub prices: PriceTable,
    pub default_tier: String,
    pub tiers: Vec<TierInfo>,
    pub demo: bool,
}

/// What one tier allows.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierInfo {
    pub name: String,
    pub max_clip_s: f64,
    pub max_running: i64,
    pub priority: i64,
}

/// `GET /v1/account/limits`: the price table and the caller's tier.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountLimits {
    #[serde(flatten)]
    pub prices: PriceTable,
    pub tier: String,
    pub max_clip_s: f64,
    pub max_running: i64,
    pub priority: i64,
    pub max_upload_bytes: u64,
    /// Files at least this large should go through a presigned link
    /// (`POST /v1/uploads/presign`); 0: every file.
    pub direct_upload_from_bytes: u64,
}

/// `POST /v1/webhooks/payment`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentReceipt {
    pub received: bool,
    /// False for an ignored event type or an event already applied.
    pub applied: bool,
}

// --------------------------------------------------------------- billing

/// `GET /v1/billing/offers`: what the portal may sell. Stripe's price ids
/// stay on the server.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingOffers {
    /// False when the operator has not configured Stripe.
    pub enabled: bool,
    pub packs: Vec<PackOffer>,
    pub plans: Vec<PlanOffer>,
}

/// A credit pack, bought once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackOffer {
    pub id: String,
    pub name: String,
    pub credits: i64,
    pub amount_display: String,
}

/// A monthly plan: a tier and credits each month.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanOffer {
    pub id: String,
    pub name: String,
    pub monthly_credits: i64,
    pub tier: String,
    pub amount_display: String,
}

/// `POST /v1/billing/checkout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// A pack's or plan's id from `GET /v1/billing/offers`.
    pub offer: String,
}

/// Where to send the user: Stripe Checkout or the customer portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingRedirect {
    pub url: String,
}

// ------------------------------------------------------------- sign-in

/// `GET /v1/auth/providers`: the providers one may sign in with.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInProviders {
    pub providers: Vec<SignInProvider>,
}

/// One provider, as the portal's "Sign in with ..." button needs it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInProvider {
    /// The name in the sign-in URLs.
    pub name: String,
    pub display_name: String,
    /// Where the button goes (`/v1/auth/oidc/{name}/start`).
    pub start_url: String,
}

// --------------------------------------------------------------- uploads

/// An uploaded video as probed, with what a job on it costs.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    pub id: String,
    pub filename: String,
    pub size_bytes: i64,
    pub duration_s: f64,
    pub fps: f64,
    pub width: i64,
    pub height: i64,
    pub codec: String,
    pub created_ms: i64,
    /// When the video's bytes were deleted; the upload stays listed.
    #[schema(required = true)]
    pub deleted_ms: Option<i64>,
    /// Credits a job costs at the service's default preset.
    pub price: i64,
    pub prices: PresetPrices,
}

/// Credits a job on one upload costs at each quality preset.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresetPrices {
    pub fast: i64,
    pub balanced: i64,
    pub best: i64,
}

impl UploadView {
    /// The upload with its prices: `price_of(preset)` is what a job costs.
    pub fn new(u: &Upload, default: Quality, price_of: impl Fn(Quality) -> i64) -> Self {
        UploadView {
            id: u.id.clone(),
            filename: u.filename.clone(),
            size_bytes: u.size_bytes,
            duration_s: u.duration_s,
            fps: u.fps,
            width: u.width,
            height: u.height,
            codec: u.codec.clone(),
            created_ms: u.created_ms,
            deleted_ms: u.deleted_ms,
            price: price_of(default),
            prices: PresetPrices {
                fast: price_of(Quality::Fast),
                balanced: price_of(Quality::Balanced),
                best: price_of(Quality::Best),
            },
        }
    }
}

/// `GET /v1/uploads`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadList {
    pub uploads: Vec<UploadView>,
}

/// `POST /v1/uploads/{id}/complete` (the body may be empty).
#[derive(Deserialize, Default, ToSchema)]
pub struct CompleteUpload {
    #[serde(default)]
    pub filename: Option<String>,
}

/// `POST /v1/uploads/presign`: PUT the video to `put`, then POST to
/// `complete`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresignTicket {
    pub upload_id: String,
    pub put: Presigned,
    pub max_bytes: u64,
    /// The path that validates and records what was PUT.
    pub complete: String,
}

// ------------------------------------------------------------------ jobs

/// `POST /v1/jobs`: `upload_id` and the [`JobOptions`] fields, side by
/// side in one object. Parsed by hand (see `jobs::CreateJob::parse`)
/// rather than with `#[serde(flatten)]`, which would let unknown fields
/// through; so its schema is not derived but made from [`JobOptions`]'s
/// here. Not as `allOf` with it: its `additionalProperties: false` would
/// then refuse `upload_id` in a validator.
pub struct CreateJobRequest;

impl PartialSchema for CreateJobRequest {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut object)) = JobOptions::schema() else {
            unreachable!("JobOptions derives an object schema")
        };
        // Set by the resolve route only; a request naming it is refused.
        object.properties.remove("resolve_of");
        object.properties.insert(
            "upload_id".into(),
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .description(Some("The upload to capture"))
                .into(),
        );
        object.required.insert(0, "upload_id".into());
        object.description = Some("A job on an upload; the options may be left out".into());
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for CreateJobRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        // What the options' schema refers to (the quality presets).
        JobOptions::schemas(schemas);
    }
}

/// A job as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub upload_id: String,
    pub state: JobState,
    /// The pipeline stage running now (empty before the first).
    pub stage: String,
    pub progress: Progress,
    /// The options as accepted (the preset filled in); `null` if the
    /// stored options are unreadable.
    #[schema(value_type = Option<JobOptions>, required = true)]
    pub options: Value,
    /// Credits reserved, then charged on success.
    pub price: i64,
    pub priority: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub cancel_requested: bool,
    #[schema(required = true)]
    pub idempotency_key: Option<String>,
    /// The worker's report once the job succeeded (input, frames, quality,
    /// tracks, timings): free-form, passed through as the worker wrote it.
    #[schema(value_type = Option<Object>, required = true)]
    pub metadata: Value,
    pub outputs: Vec<OutputSummary>,
    #[schema(required = true)]
    pub error: Option<JobError>,
    pub created_ms: i64,
    #[schema(required = true)]
    pub started_ms: Option<i64>,
    #[schema(required = true)]
    pub finished_ms: Option<i64>,
    /// When the outputs will be deleted whatever the account's retention
    /// (no-retain jobs); `null` otherwise.
    #[schema(required = true)]
    pub outputs_expire_ms: Option<i64>,
    /// When retention deleted the outputs; their links are gone since.
    #[schema(required = true)]
    pub outputs_deleted_ms: Option<i64>,
}

/// Frames processed of the clip's total.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub frames_done: i64,
    pub frames_total: i64,
}

/// One output file of a job (links: `GET /v1/jobs/{id}/outputs`).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputSummary {
    pub name: String,
    pub size: u64,
}

/// Why a job failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobError {
    pub code: String,
    #[schema(required = true)]
    pub message: Option<String>,
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        // Stored JSON that does not parse reads as null (options,
        // metadata) or no files, as it always has.
        let metadata: Value = job
            .report_json
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null);
        let outputs: Vec<OutputFile> = serde_json::from_str(&job.outputs_json).unwrap_or_default();
        let options: Value = serde_json::from_str(&job.options_json).unwrap_or(Value::Null);
        JobView {
            id: job.id.clone(),
            upload_id: job.upload_id.clone(),
            state: job.state,
            stage: job.stage.clone(),
            progress: Progress {
                frames_done: job.frames_done,
                frames_total: job.frames_total,
            },
            options,
            price: job.price,
            priority: job.priority,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            cancel_requested: job.cancel_requested != 0,
            idempotency_key: job.idempotency_key.clone(),
            metadata,
            outputs: outputs
                .into_iter()
                .map(|o| OutputSummary {
                    name: o.name,
                    size: o.size,
                })
                .collect(),
            error: job.error_code.as_ref().map(|c| JobError {
                code: c.clone(),
                message: job.error_message.clone(),
            }),
            created_ms: job.created_ms,
            started_ms: job.started_ms,
            finished_ms: job.finished_ms,
            outputs_expire_ms: job.outputs_expire_ms,
            outputs_deleted_ms: job.outputs_deleted_ms,
        }
    }
}

/// `GET /v1/jobs`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `GET /v1/jobs` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Jobs per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /v1/jobs/{id}/outputs` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutputsQuery {
    /// How long the links stay valid (default: the store's).
    pub expires_secs: Option<u64>,
}

/// `GET /v1/jobs/{id}/outputs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobOutputs {
    pub job_id: String,
    pub state: JobState,
    pub outputs: Vec<OutputLink>,
}

/// One output file with a presigned download link.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputLink {
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub url: String,
    pub expires_unix: i64,
}

/// `GET /v1/jobs/{id}/tracks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobTracks {
    pub job_id: String,
    pub tracks: Vec<TrackChoice>,
}

/// One person the tracker followed. The frame numbers are passed through
/// from the job's metadata as the worker wrote them.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackChoice {
    /// What `person` takes to solve this one.
    pub id: u64,
    #[schema(value_type = Option<u64>, required = true)]
    pub first_frame: Value,
    #[schema(value_type = Option<u64>, required = true)]
    pub last_frame: Value,
    /// Frames with a pose.
    #[schema(value_type = Option<u64>, required = true)]
    pub frames: Value,
    /// The one the job solved.
    pub followed: bool,
    #[schema(required = true)]
    pub thumbnail_url: Option<String>,
}

/// `POST /v1/jobs/{id}/resolve`: what a re-solve may change; anything not
/// given keeps the job's choice.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `auto` or a track id.
    pub person: Option<String>,
    pub rig: Option<String>,
    pub outputs: Option<Vec<String>>,
}

// -------------------------------------------------------- user webhooks

/// `POST /v1/account/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookRequest {
    /// Where events are posted: `http` or `https`, a public address.
    pub url: String,
    /// Event types wanted (`job.succeeded`, `job.failed`, `job.canceled`);
    /// absent: all of them.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// A new webhook: `secret` signs its deliveries and is shown in this
/// answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    pub secret: String,
    pub webhook: Webhook,
}

/// `GET /v1/account/webhooks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

/// `GET /v1/account/webhooks/{id}/deliveries`: the latest attempts, newest
/// first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLog {
    pub webhook_id: String,
    pub attempts: Vec<Attempt>,
}

// ------------------------------------------------------------- the rest

/// `GET /v1/openapi.json`: an OpenAPI 3.1 document (this one), named as a
/// component so that every JSON answer has one; its content is free-form
/// here.
pub struct OpenApiDocument;

impl PartialSchema for OpenApiDocument {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .description(Some("An OpenAPI 3.1 document"))
            .into()
    }
}

impl ToSchema for OpenApiDocument {}
