//! The words of every mail the service sends, in one place: plain text,
//! short, saying what happened, what the link does and how long it works,
//! and what to do if the reader did not ask for it.

use super::mailer::Mail;

const SIGN_OFF: &str = "\n-- \nvidmocap\n";

fn ttl_words(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 && s >= 86_400 => plural(s / 86_400, "day"),
        s if s % 3600 == 0 && s >= 3600 => plural(s / 3600, "hour"),
        s if s % 60 == 0 && s >= 60 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// To the address a new account was created with.
pub fn verify_address(link: &str, ttl_secs: i64) -> Mail {
    Mail {
        kind: "verify_address",
        subject: "Confirm your email address for vidmocap".into(),
        text: format!(
            "Welcome to vidmocap.\n\n\
             Please confirm that this is your email address by opening this link:\n\n{link}\n\n\
             The link works for {}. Until you confirm, we do not send you\n\
             notifications about your jobs.\n\n\
             If you did not create an account, ignore this mail; nothing more will be sent.\n{SIGN_OFF}",
            ttl_words(ttl_secs)
        ),
    }
}

/// To the new address of an email change.
pub fn confirm_new_address(link: &str, ttl_secs: i64) -> Mail {
    Mail {
        kind: "confirm_new_address",
        subject: "Confirm your new email address for vidmocap".into(),
        text: format!(
            "Someone asked to use this address for a vidmocap account.\n\n\
             To make it the account's address, open this link:\n\n{link}\n\n\
             The link works for {}. Until it is opened, the account keeps its old address.\n\n\
             If this was not you, ignore this mail; nothing changes.\n{SIGN_OFF}",
            ttl_words(ttl_secs)
        ),
    }
}

/// To the old address, once an email change is confirmed.
pub fn address_changed(new_email: &str) -> Mail {
    Mail {
        kind: "address_changed",
        subject: "Your vidmocap email address was changed".into(),
        text: format!(
            "The email address of your vidmocap account was changed to {new_email}.\n\
             Mail about the account now goes there, and you sign in with it.\n\n\
             If you did not do this, reply to this mail or contact the service's operator at once.\n{SIGN_OFF}"
        ),
    }
}

/// A password-reset link.
pub fn password_reset(link: &str, ttl_secs: i64) -> Mail {
    Mail {
        kind: "password_reset",
        subject: "Reset your vidmocap password".into(),
        text: format!(
            "Someone asked to reset the password of the vidmocap account with this address.\n\n\
             To choose a new password, open this link:\n\n{link}\n\n\
             The link works once, for {}. Choosing a new password signs you out everywhere.\n\n\
             If you did not ask, ignore this mail: your password stays as it is.\n{SIGN_OFF}",
            ttl_words(ttl_secs)
        ),
    }
}

/// After a password change or reset.
pub fn password_changed() -> Mail {
    Mail {
        kind: "password_changed",
        subject: "Your vidmocap password was changed".into(),
        text: format!(
            "The password of your vidmocap account was just changed, and its other sessions were\n\
             signed out.\n\n\
             If you did not do this, reset your password from the sign-in page at once.\n{SIGN_OFF}"
        ),
    }
}

/// A job ended: `failure` is `None` on success, else what went wrong in
/// the user's words.
pub fn job_finished(
    clip: &str,
    job_link: &str,
    settings_link: &str,
    failure: Option<&str>,
) -> Mail {
    let (subject, body) = match failure {
        None => (
            format!("Your motion capture of {clip} is ready"),
            format!(
                "The job for {clip} has finished. See the result and download its files here:\n\n{job_link}\n"
            ),
        ),
        Some(why) => (
            format!("Your motion capture of {clip} could not be finished"),
            format!(
                "The job for {clip} failed: {why}\n\n\
                 The credits held for it were returned. The details are here:\n\n{job_link}\n"
            ),
        ),
    };
    Mail {
        kind: if failure.is_none() {
            "job_succeeded"
        } else {
            "job_failed"
        },
        subject,
        text: format!(
            "{body}\nYou get this mail because job notifications are on for your account.\n\
             To turn them off, open {settings_link}\n{SIGN_OFF}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_lifetimes_in_words() {
        assert_eq!(ttl_words(1800), "30 minutes");
        assert_eq!(ttl_words(86_400), "1 day");
        assert_eq!(ttl_words(7200), "2 hours");
        assert_eq!(ttl_words(1), "1 second");
        assert!(password_reset("L", 1800).text.contains("for 30 minutes"));
    }
}
