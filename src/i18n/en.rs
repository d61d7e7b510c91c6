//! English sentences. One arm per key: the compiler refuses a missing one.

use super::Key;

pub(super) fn text(key: Key) -> &'static str {
    match key {
        Key::ButtonLabel => "Try it on",
        Key::DialogTitle => "See it on you",
        Key::Close => "Close",
        Key::TipsHeading => "For the best result",
        Key::TipFullBody => "Show your whole body, head to feet.",
        Key::TipFacingForward => "Face the camera and stand straight.",
        Key::TipPlainBackground => "Stand in front of a plain background.",
        Key::ChoosePhoto => "Choose or take a photo",
        Key::ChooseAnother => "Choose another photo",
        Key::PreviewAlt => "Your prepared photo",
        Key::PhotoFacts => "{kb} KB · {width} × {height} px",
        Key::MetadataRemoved => "Location and camera data removed",
        Key::PhotoKept => "Kept on our server for {min} min, then deleted",
        Key::Submit => "Try it on",
        Key::ProgressLabel => "Try-on progress",
        Key::Preparing => "Preparing photo",
        Key::Uploading => "Uploading {percent}%",
        Key::Starting => "Starting",
        Key::InLine => "In line: {ahead} ahead of you",
        Key::Next => "You're next",
        Key::Creating => "Creating your look {percent}%",
        Key::Done => "Done",
        Key::ResultAlt => "You, wearing this item",
        Key::TryAnother => "Try another photo",
        Key::TryAgain => "Try again",
        Key::AiGenerated => "AI-generated preview",
        Key::CompareLabel => "Compare with your photo",
        Key::BeforeAlt => "Your photo, before",
        Key::Download => "Download",
        Key::Share => "Share",
        Key::AddToCart => "Add to cart",
        Key::RememberPhoto => "Remember my photo on this device",
        Key::RememberHint => "Kept in this browser only, never on our servers.",
        Key::PhotoRemembered => "Your photo is saved on this device.",
        Key::ForgetPhoto => "Forget my photo",
        Key::PhotoForgotten => "Your photo has been removed from this device.",
        Key::DeletePhoto => "Delete my photo now",
        Key::PhotoDeleted => "Your photo and this result have been deleted from our servers.",
        Key::DeleteFailed => "Deleting didn't work. Please try again in a moment.",
        Key::Cancel => "Cancel",
        Key::ErrorHeading => "That didn't work",
        Key::ErrInvalidImage => {
            "We couldn't read this photo. It may be damaged; please choose another one."
        }
        Key::ErrUnsupportedType => {
            "This photo format isn't supported here. Please choose a JPEG or PNG."
        }
        Key::ErrImageTooLarge => "This photo is too large. Please choose a smaller one.",
        Key::ErrMissingField => "Something was missing from the request. Please try again.",
        Key::ErrInvalidField => "This product can't be tried on with these settings.",
        Key::ErrGarmentUrlNotAllowed => "This product's image can't be used for try-on.",
        Key::ErrNotFound => "This try-on has expired. Please start again.",
        Key::ErrNotReady => "Your look isn't ready yet. Please try again in a moment.",
        Key::ErrRateLimited => {
            "Lots of people are trying things on right now. Please wait a minute and try again."
        }
        Key::ErrProviderUnavailable => "Try-on is unavailable right now. Please try again later.",
        Key::ErrProviderFailed => {
            "We couldn't create your look this time. Please try again or use another photo."
        }
        Key::ErrIdempotencyKeyReused => {
            "This try-on was already sent with different details. Please try again."
        }
        Key::ErrIdempotencyKeyInUse => {
            "Your photo is still being sent. Please wait a moment and try again."
        }
        Key::ErrContentRejected => {
            "This photo can't be used for try-on. Please choose a different photo."
        }
        Key::ErrPoseNotDetected => {
            "We couldn't find a full body in this photo. Please use one where you stand facing the camera."
        }
        Key::ErrUnauthorized => {
            "This request couldn't be verified. Please reload the page and try again."
        }
        Key::ErrRequestTimeout => "Sending took too long. Check your connection and try again.",
        Key::ErrStoreUnavailable => {
            "Try-on is down for a moment. Please try again in a few minutes."
        }
        Key::ErrInternal => "Something went wrong on our side. Please try again.",
        Key::ErrPhotoNotFound => "Your photo is no longer on our server. Please choose it again.",
        Key::ErrNetwork => {
            "We can't reach the try-on service. Check your connection and try again."
        }
        Key::ErrUploadFailed => "The upload was interrupted. Check your connection and try again.",
        Key::ErrUnexpectedAnswer => {
            "The try-on service gave an answer we don't understand. Please try again later."
        }
        Key::ErrResultUnavailable => {
            "Your look is ready but couldn't be downloaded. Please try again."
        }
        Key::ErrPreparerUnavailable => {
            "Photo preparation couldn't start in this browser. Please reload the page and try again."
        }
        Key::ErrNoGarment => "This product has no image to try on.",
        Key::CheckingPhoto => "Checking your photo",
        Key::ExampleNotice => {
            "Example result: in the theme editor no photo is sent and no try-on is used."
        }
        Key::IssueNoPerson => {
            "We couldn't find a person in this photo. Please choose one that shows you from head to feet."
        }
        Key::IssueMultiplePeople => {
            "There's more than one person in this photo. Please choose one where you are alone."
        }
        Key::IssueNotFacingForward => {
            "You're not facing the camera in this photo. Please choose one where you face it."
        }
        Key::IssuePersonTooSmall => {
            "You look too small in this photo. Please choose one taken closer."
        }
        Key::IssuePersonSlightlySmall => {
            "You look a little small in this photo; one taken closer gives a better look."
        }
        Key::IssuePoseUnclear => {
            "Your pose is hard to make out; standing straight gives the best look."
        }
        Key::IssuePoseUnsupported => {
            "This pose may not work well; standing straight gives the best look."
        }
        Key::IssueTooFewPixels => {
            "This photo is too small for a try-on. Please choose a larger one."
        }
        Key::IssueSoftPhoto => "This photo is small, so your look may come out blurry.",
        Key::IssueLandscapePhoto => "A portrait photo showing your whole body works best.",
        Key::IssueUnsuitable => {
            "This photo isn't suitable for a try-on. Please choose another one that shows you clearly."
        }
        Key::IssueMayDisappoint => "Your look may not come out at its best with this photo.",
        Key::Unavailable => "Try-on isn't available on this page yet.",
    }
}
