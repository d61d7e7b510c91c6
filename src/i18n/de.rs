//! German sentences. One arm per key: the compiler refuses a missing one.

use super::Key;

pub(super) fn text(key: Key) -> &'static str {
    match key {
        Key::ButtonLabel => "Anprobieren",
        Key::DialogTitle => "So sieht es an dir aus",
        Key::Close => "Schließen",
        Key::TipsHeading => "Für das beste Ergebnis",
        Key::TipFullBody => "Zeig dich ganz, von Kopf bis Fuß.",
        Key::TipFacingForward => "Schau in die Kamera und steh gerade.",
        Key::TipPlainBackground => "Stell dich vor einen schlichten Hintergrund.",
        Key::ChoosePhoto => "Foto auswählen oder aufnehmen",
        Key::ChooseAnother => "Anderes Foto auswählen",
        Key::PreviewAlt => "Dein vorbereitetes Foto",
        Key::PhotoFacts => "{kb} KB · {width} × {height} px",
        Key::MetadataRemoved => "Standort- und Kameradaten entfernt",
        Key::PhotoKept => "Auf unserem Server {min} Min. gespeichert, dann gelöscht",
        Key::Submit => "Anprobieren",
        Key::ProgressLabel => "Fortschritt der Anprobe",
        Key::Preparing => "Foto wird vorbereitet",
        Key::Uploading => "Wird hochgeladen: {percent} %",
        Key::Starting => "Wird gestartet",
        Key::InLine => "In der Warteschlange: {ahead} vor dir",
        Key::Next => "Du bist als Nächstes dran",
        Key::Creating => "Dein Look entsteht: {percent} %",
        Key::Done => "Fertig",
        Key::ResultAlt => "Du, mit diesem Artikel",
        Key::TryAnother => "Anderes Foto probieren",
        Key::TryAgain => "Erneut versuchen",
        Key::AiGenerated => "KI-generierte Vorschau",
        Key::CompareLabel => "Mit deinem Foto vergleichen",
        Key::BeforeAlt => "Dein Foto, vorher",
        Key::Download => "Herunterladen",
        Key::Share => "Teilen",
        Key::AddToCart => "In den Warenkorb",
        Key::RememberPhoto => "Mein Foto auf diesem Gerät merken",
        Key::RememberHint => "Nur in diesem Browser gespeichert, nie auf unseren Servern.",
        Key::PhotoRemembered => "Dein Foto ist auf diesem Gerät gespeichert.",
        Key::ForgetPhoto => "Mein Foto vergessen",
        Key::PhotoForgotten => "Dein Foto wurde von diesem Gerät entfernt.",
        Key::DeletePhoto => "Mein Foto jetzt löschen",
        Key::PhotoDeleted => "Dein Foto und dieses Ergebnis wurden von unseren Servern gelöscht.",
        Key::DeleteFailed => {
            "Das Löschen hat nicht geklappt. Bitte versuche es gleich noch einmal."
        }
        Key::Cancel => "Abbrechen",
        Key::ErrorHeading => "Das hat nicht geklappt",
        Key::ErrInvalidImage => {
            "Wir konnten dieses Foto nicht lesen. Es ist vielleicht beschädigt; bitte wähle ein anderes."
        }
        Key::ErrUnsupportedType => {
            "Dieses Fotoformat wird hier nicht unterstützt. Bitte wähle ein JPEG oder PNG."
        }
        Key::ErrImageTooLarge => "Dieses Foto ist zu groß. Bitte wähle ein kleineres.",
        Key::ErrMissingField => "In der Anfrage fehlte etwas. Bitte versuche es erneut.",
        Key::ErrInvalidField => {
            "Dieser Artikel kann mit diesen Einstellungen nicht anprobiert werden."
        }
        Key::ErrGarmentUrlNotAllowed => {
            "Das Bild dieses Artikels kann nicht für die Anprobe verwendet werden."
        }
        Key::ErrNotFound => "Diese Anprobe ist abgelaufen. Bitte beginne von vorn.",
        Key::ErrNotReady => {
            "Dein Look ist noch nicht fertig. Bitte versuche es gleich noch einmal."
        }
        Key::ErrRateLimited => {
            "Gerade probieren sehr viele Leute etwas an. Bitte warte eine Minute und versuche es erneut."
        }
        Key::ErrProviderUnavailable => {
            "Die Anprobe ist gerade nicht verfügbar. Bitte versuche es später erneut."
        }
        Key::ErrProviderFailed => {
            "Dein Look konnte diesmal nicht erstellt werden. Bitte versuche es erneut oder nimm ein anderes Foto."
        }
        Key::ErrIdempotencyKeyReused => {
            "Diese Anprobe wurde bereits mit anderen Angaben gesendet. Bitte versuche es erneut."
        }
        Key::ErrIdempotencyKeyInUse => {
            "Dein Foto wird noch gesendet. Bitte warte kurz und versuche es erneut."
        }
        Key::ErrContentRejected => {
            "Dieses Foto kann nicht für die Anprobe verwendet werden. Bitte wähle ein anderes Foto."
        }
        Key::ErrPoseNotDetected => {
            "Auf diesem Foto ist kein ganzer Körper zu erkennen. Bitte nimm eins, auf dem du der Kamera zugewandt stehst."
        }
        Key::ErrUnauthorized => {
            "Diese Anfrage konnte nicht überprüft werden. Bitte lade die Seite neu und versuche es erneut."
        }
        Key::ErrRequestTimeout => {
            "Das Senden hat zu lange gedauert. Prüfe deine Verbindung und versuche es erneut."
        }
        Key::ErrStoreUnavailable => {
            "Die Anprobe ist kurz nicht erreichbar. Bitte versuche es in ein paar Minuten erneut."
        }
        Key::ErrInternal => "Bei uns ist etwas schiefgelaufen. Bitte versuche es erneut.",
        Key::ErrPhotoNotFound => {
            "Dein Foto ist nicht mehr auf unserem Server. Bitte wähle es erneut aus."
        }
        Key::ErrNetwork => {
            "Der Anprobe-Dienst ist nicht erreichbar. Prüfe deine Verbindung und versuche es erneut."
        }
        Key::ErrUploadFailed => {
            "Das Hochladen wurde unterbrochen. Prüfe deine Verbindung und versuche es erneut."
        }
        Key::ErrUnexpectedAnswer => {
            "Der Anprobe-Dienst hat unverständlich geantwortet. Bitte versuche es später erneut."
        }
        Key::ErrResultUnavailable => {
            "Dein Look ist fertig, konnte aber nicht geladen werden. Bitte versuche es erneut."
        }
        Key::ErrPreparerUnavailable => {
            "Die Fotovorbereitung konnte in diesem Browser nicht starten. Bitte lade die Seite neu und versuche es erneut."
        }
        Key::ErrNoGarment => "Für diesen Artikel gibt es kein Bild zum Anprobieren.",
        Key::CheckingPhoto => "Foto wird geprüft",
        Key::ExampleNotice => {
            "Beispielergebnis: Im Theme-Editor wird kein Foto gesendet und keine Anprobe verbraucht."
        }
        Key::IssueNoPerson => {
            "Auf diesem Foto haben wir keine Person gefunden. Bitte wähle eins, das dich von Kopf bis Fuß zeigt."
        }
        Key::IssueMultiplePeople => {
            "Auf diesem Foto ist mehr als eine Person. Bitte wähle eins, auf dem du allein bist."
        }
        Key::IssueNotFacingForward => {
            "Auf diesem Foto schaust du nicht in die Kamera. Bitte wähle eins, auf dem du ihr zugewandt bist."
        }
        Key::IssuePersonTooSmall => {
            "Auf diesem Foto bist du zu klein zu sehen. Bitte wähle eins, das näher aufgenommen ist."
        }
        Key::IssuePersonSlightlySmall => {
            "Auf diesem Foto bist du etwas klein zu sehen; ein näher aufgenommenes wirkt besser."
        }
        Key::IssuePoseUnclear => {
            "Deine Haltung ist schwer zu erkennen; gerade stehend gelingt es am besten."
        }
        Key::IssuePoseUnsupported => {
            "Diese Pose funktioniert vielleicht nicht gut; gerade stehend gelingt es am besten."
        }
        Key::IssueTooFewPixels => {
            "Dieses Foto ist zu klein für eine Anprobe. Bitte wähle ein größeres."
        }
        Key::IssueSoftPhoto => "Dieses Foto ist klein, dein Look könnte unscharf werden.",
        Key::IssueLandscapePhoto => {
            "Am besten eignet sich ein Hochformatfoto, das deinen ganzen Körper zeigt."
        }
        Key::IssueUnsuitable => {
            "Dieses Foto eignet sich nicht für eine Anprobe. Bitte wähle eins, auf dem du gut zu sehen bist."
        }
        Key::IssueMayDisappoint => "Mit diesem Foto wird dein Look vielleicht nicht optimal.",
        Key::Unavailable => "Die Anprobe ist auf dieser Seite noch nicht verfügbar.",
    }
}
