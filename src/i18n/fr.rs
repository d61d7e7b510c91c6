//! French sentences. One arm per key: the compiler refuses a missing one.

use super::Key;

pub(super) fn text(key: Key) -> &'static str {
    match key {
        Key::ButtonLabel => "Essayer",
        Key::DialogTitle => "Voyez-le sur vous",
        Key::Close => "Fermer",
        Key::TipsHeading => "Pour un meilleur résultat",
        Key::TipFullBody => "Montrez-vous en entier, de la tête aux pieds.",
        Key::TipFacingForward => "Faites face à l'objectif et tenez-vous droit.",
        Key::TipPlainBackground => "Placez-vous devant un fond uni.",
        Key::ChoosePhoto => "Choisir ou prendre une photo",
        Key::ChooseAnother => "Choisir une autre photo",
        Key::PreviewAlt => "Votre photo préparée",
        Key::PhotoFacts => "{kb} Ko · {width} × {height} px",
        Key::MetadataRemoved => "Données de localisation et d'appareil supprimées",
        Key::PhotoKept => "Conservée {min} min sur notre serveur, puis supprimée",
        Key::Submit => "Essayer",
        Key::ProgressLabel => "Progression de l'essayage",
        Key::Preparing => "Préparation de la photo",
        Key::Uploading => "Envoi : {percent} %",
        Key::Starting => "Démarrage",
        Key::InLine => "En file d'attente : {ahead} avant vous",
        Key::Next => "C'est bientôt votre tour",
        Key::Creating => "Création de votre look : {percent} %",
        Key::Done => "Terminé",
        Key::ResultAlt => "Vous, portant cet article",
        Key::TryAnother => "Essayer une autre photo",
        Key::TryAgain => "Réessayer",
        Key::AiGenerated => "Aperçu généré par IA",
        Key::CompareLabel => "Comparer avec votre photo",
        Key::BeforeAlt => "Votre photo, avant",
        Key::Download => "Télécharger",
        Key::Share => "Partager",
        Key::AddToCart => "Ajouter au panier",
        Key::RememberPhoto => "Mémoriser ma photo sur cet appareil",
        Key::RememberHint => "Conservée uniquement dans ce navigateur, jamais sur nos serveurs.",
        Key::PhotoRemembered => "Votre photo est enregistrée sur cet appareil.",
        Key::ForgetPhoto => "Oublier ma photo",
        Key::PhotoForgotten => "Votre photo a été supprimée de cet appareil.",
        Key::DeletePhoto => "Supprimer ma photo maintenant",
        Key::PhotoDeleted => "Votre photo et ce résultat ont été supprimés de nos serveurs.",
        Key::DeleteFailed => {
            "La suppression n'a pas fonctionné. Veuillez réessayer dans un instant."
        }
        Key::Cancel => "Annuler",
        Key::ErrorHeading => "Cela n'a pas fonctionné",
        Key::ErrInvalidImage => {
            "Nous n'avons pas pu lire cette photo. Elle est peut-être endommagée ; choisissez-en une autre."
        }
        Key::ErrUnsupportedType => {
            "Ce format de photo n'est pas pris en charge ici. Choisissez un JPEG ou un PNG."
        }
        Key::ErrImageTooLarge => "Cette photo est trop volumineuse. Choisissez-en une plus petite.",
        Key::ErrMissingField => "Il manquait quelque chose dans la demande. Veuillez réessayer.",
        Key::ErrInvalidField => "Cet article ne peut pas être essayé avec ces réglages.",
        Key::ErrGarmentUrlNotAllowed => {
            "L'image de cet article ne peut pas être utilisée pour l'essayage."
        }
        Key::ErrNotFound => "Cet essayage a expiré. Veuillez recommencer.",
        Key::ErrNotReady => "Votre look n'est pas encore prêt. Réessayez dans un instant.",
        Key::ErrRateLimited => {
            "Beaucoup de personnes essaient des articles en ce moment. Patientez une minute puis réessayez."
        }
        Key::ErrProviderUnavailable => {
            "L'essayage est indisponible pour le moment. Veuillez réessayer plus tard."
        }
        Key::ErrProviderFailed => {
            "Nous n'avons pas pu créer votre look cette fois. Réessayez ou utilisez une autre photo."
        }
        Key::ErrIdempotencyKeyReused => {
            "Cet essayage a déjà été envoyé avec d'autres informations. Veuillez réessayer."
        }
        Key::ErrIdempotencyKeyInUse => {
            "Votre photo est encore en cours d'envoi. Patientez un instant puis réessayez."
        }
        Key::ErrContentRejected => {
            "Cette photo ne peut pas être utilisée pour l'essayage. Choisissez une autre photo."
        }
        Key::ErrPoseNotDetected => {
            "Nous n'avons pas trouvé de silhouette entière sur cette photo. Utilisez-en une où vous êtes debout, face à l'objectif."
        }
        Key::ErrUnauthorized => {
            "Cette demande n'a pas pu être vérifiée. Rechargez la page et réessayez."
        }
        Key::ErrRequestTimeout => {
            "L'envoi a pris trop de temps. Vérifiez votre connexion et réessayez."
        }
        Key::ErrStoreUnavailable => {
            "L'essayage est momentanément indisponible. Réessayez dans quelques minutes."
        }
        Key::ErrInternal => "Un problème est survenu de notre côté. Veuillez réessayer.",
        Key::ErrPhotoNotFound => {
            "Votre photo n'est plus sur notre serveur. Veuillez la choisir à nouveau."
        }
        Key::ErrNetwork => {
            "Le service d'essayage est injoignable. Vérifiez votre connexion et réessayez."
        }
        Key::ErrUploadFailed => "L'envoi a été interrompu. Vérifiez votre connexion et réessayez.",
        Key::ErrUnexpectedAnswer => {
            "Le service d'essayage a donné une réponse incompréhensible. Veuillez réessayer plus tard."
        }
        Key::ErrResultUnavailable => {
            "Votre look est prêt mais n'a pas pu être téléchargé. Veuillez réessayer."
        }
        Key::ErrPreparerUnavailable => {
            "La préparation de la photo n'a pas pu démarrer dans ce navigateur. Rechargez la page et réessayez."
        }
        Key::ErrNoGarment => "Cet article n'a pas d'image à essayer.",
        Key::CheckingPhoto => "Vérification de la photo",
        Key::ExampleNotice => {
            "Exemple de résultat : dans l'éditeur de thème, aucune photo n'est envoyée et aucun essayage n'est décompté."
        }
        Key::IssueNoPerson => {
            "Nous n'avons trouvé personne sur cette photo. Choisissez-en une qui vous montre de la tête aux pieds."
        }
        Key::IssueMultiplePeople => {
            "Il y a plus d'une personne sur cette photo. Choisissez-en une où vous êtes seul·e."
        }
        Key::IssueNotFacingForward => {
            "Vous ne faites pas face à l'objectif sur cette photo. Choisissez-en une où vous êtes de face."
        }
        Key::IssuePersonTooSmall => {
            "Vous apparaissez trop petit·e sur cette photo. Choisissez-en une prise de plus près."
        }
        Key::IssuePersonSlightlySmall => {
            "Vous apparaissez un peu petit·e sur cette photo ; une photo prise de plus près donnera un meilleur rendu."
        }
        Key::IssuePoseUnclear => {
            "Votre posture est difficile à distinguer ; debout et droit·e, le rendu est meilleur."
        }
        Key::IssuePoseUnsupported => {
            "Cette pose risque de mal fonctionner ; debout et droit·e, le rendu est meilleur."
        }
        Key::IssueTooFewPixels => {
            "Cette photo est trop petite pour un essayage. Choisissez-en une plus grande."
        }
        Key::IssueSoftPhoto => "Cette photo est petite, le résultat risque d'être flou.",
        Key::IssueLandscapePhoto => {
            "Une photo en format portrait qui vous montre en entier donne le meilleur résultat."
        }
        Key::IssueUnsuitable => {
            "Cette photo ne convient pas à un essayage. Choisissez-en une autre où l'on vous voit bien."
        }
        Key::IssueMayDisappoint => "Avec cette photo, le résultat risque de ne pas être optimal.",
        Key::Unavailable => "L'essayage n'est pas encore disponible sur cette page.",
    }
}
