//! Job notifications: a mail when a job succeeds or fails, with a link to
//! it, to accounts that keep them on and whose address is verified (so the
//! service never mails someone who did not sign up). Canceled jobs were
//! ended by their owner and get none.

use super::app::AppState;
use super::mails;
use crate::db::jobs::{Finish, Job};

/// Mails the owner of `job`, which just ended as `finish`, when they want
/// it. Failures to load what the mail says are logged; the job's outcome
/// is already recorded and does not depend on this.
pub async fn job_finished(state: &AppState, job: &Job, finish: &Finish) {
    let failure = match finish {
        Finish::Succeeded { .. } => None,
        Finish::Failed { message, .. } => Some(message.as_str()),
        Finish::Canceled => return,
    };
    if !state.mailer.enabled() {
        return;
    }
    let account = match state.db.account(&job.account_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "loading the account to notify failed");
            return;
        }
    };
    if !account.notifications.job_emails || account.email_verified_ms.is_none() {
        return;
    }
    let clip = match state.db.upload(&job.account_id, &job.upload_id).await {
        Ok(Some(u)) => u.filename,
        Ok(None) => "your clip".to_string(),
        Err(e) => {
            tracing::error!(error = %e, "loading the job's upload to notify failed");
            "your clip".to_string()
        }
    };
    let mail = mails::job_finished(
        &clip,
        &state.mailer.link(&format!("job/{}", job.id)),
        &state.mailer.link("settings"),
        failure,
    );
    state.mailer.send_later(account.email, mail);
}
