// What the service's error codes mean, as a user would put them. Codes not
// listed here show the API's own message, which is already written for
// clients; no library's name ever reaches the page.

const WORDS = {
  'auth.invalid_credentials': 'That email and password do not match an account. Check them and try again.',
  'auth.email_taken': 'An account with that email already exists. Log in instead.',
  'auth.weak_password': 'Choose a longer password: at least 8 characters.',
  'auth.bad_email': 'That does not look like an email address.',
  'auth.age_unconfirmed': 'You must be 18 or over to create an account. Tick the box to confirm it.',
  'auth.wrong_password': 'That is not your current password.',
  'auth.link_invalid': 'This link is not valid. Copy the whole link from the email, or ask for a new one.',
  'auth.link_used': 'This link was already used, so it no longer works.',
  'auth.link_expired': 'This link has expired.',
  'auth.throttled': 'Too many wrong passwords; wait a minute and try again.',
  'account.same_email': 'That is already your address.',
  'account.already_verified': 'Your address is already confirmed.',
  'account.too_many_links': 'Several links were sent lately. Use the newest one, or try again tomorrow.',
  'mail.disabled': 'This server does not send email, so this is not available. Ask its operator for help.',
  'credits.insufficient': 'Not enough credits for this clip.',
  'billing.disabled': 'Buying credits is not set up on this server; ask its operator for credits.',
  'billing.unknown_offer': 'That pack or plan is no longer sold. Reload the page to see what is.',
  'billing.no_customer': 'Nothing has been bought from this account yet, so there are no payments to manage.',
  'billing.provider': 'The payment page could not be opened just now. Nothing was charged; try again in a moment.',
  'upload.deleted': 'The video of this job was deleted, so it cannot be run again. Upload it again.',
  'upload.too_large': 'The file is larger than your plan allows.',
  'rate.limited': 'Too many requests in a short time; wait a minute and try again.',
  'video.empty': 'The file is empty.',
  'video.not_a_video': 'The file is not a video the service can read. Try an MP4, MOV or WebM file.',
  'video.no_video_stream': 'The file has sound but no picture.',
  'video.unsupported_codec': 'The video is in a format the service cannot read. Try an H.264 MP4.',
  'video.truncated': 'The video file is incomplete; upload it again.',
  'video.corrupt_frames': 'Too much of the video is damaged to read.',
  'video.no_frames': 'No picture could be read from the video.',
  'video.decode_failed': 'The video could not be read to the end.',
  'pipeline.no_person': 'No person was found in the video. Try a clip where one person is fully in view.',
  'pipeline.unknown_person': 'The chosen person is not in the video.',
  'pipeline.canceled': 'The job was canceled.',
  'export.empty_motion': 'No motion could be made from the video.',
  'job.internal': 'Something went wrong on our side. The credits were returned.',
};

/** An error (an ApiError or a job's `{code, message}`) in the user's words. */
export function say(err) {
  if (!err) return 'Something went wrong.';
  return WORDS[err.code] || err.message || String(err);
}
