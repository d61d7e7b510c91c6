//! Spanish sentences. One arm per key: the compiler refuses a missing one.

use super::Key;

pub(super) fn text(key: Key) -> &'static str {
    match key {
        Key::ButtonLabel => "Pruébatelo",
        Key::DialogTitle => "Mira cómo te queda",
        Key::Close => "Cerrar",
        Key::TipsHeading => "Para un mejor resultado",
        Key::TipFullBody => "Muestra tu cuerpo entero, de la cabeza a los pies.",
        Key::TipFacingForward => "Mira a la cámara y ponte recto.",
        Key::TipPlainBackground => "Colócate delante de un fondo liso.",
        Key::ChoosePhoto => "Elegir o hacer una foto",
        Key::ChooseAnother => "Elegir otra foto",
        Key::PreviewAlt => "Tu foto preparada",
        Key::PhotoFacts => "{kb} KB · {width} × {height} px",
        Key::MetadataRemoved => "Datos de ubicación y de la cámara eliminados",
        Key::PhotoKept => "Se guarda {min} min en nuestro servidor y luego se elimina",
        Key::Submit => "Pruébatelo",
        Key::ProgressLabel => "Progreso de la prueba",
        Key::Preparing => "Preparando la foto",
        Key::Uploading => "Subiendo {percent} %",
        Key::Starting => "Empezando",
        Key::InLine => "En cola: {ahead} por delante de ti",
        Key::Next => "Eres el siguiente",
        Key::Creating => "Creando tu look {percent} %",
        Key::Done => "Listo",
        Key::ResultAlt => "Tú, con este artículo",
        Key::TryAnother => "Probar otra foto",
        Key::TryAgain => "Volver a intentarlo",
        Key::AiGenerated => "Vista previa generada por IA",
        Key::CompareLabel => "Comparar con tu foto",
        Key::BeforeAlt => "Tu foto, antes",
        Key::Download => "Descargar",
        Key::Share => "Compartir",
        Key::AddToCart => "Añadir al carrito",
        Key::RememberPhoto => "Recordar mi foto en este dispositivo",
        Key::RememberHint => "Se guarda solo en este navegador, nunca en nuestros servidores.",
        Key::PhotoRemembered => "Tu foto está guardada en este dispositivo.",
        Key::ForgetPhoto => "Olvidar mi foto",
        Key::PhotoForgotten => "Tu foto se ha eliminado de este dispositivo.",
        Key::DeletePhoto => "Eliminar mi foto ahora",
        Key::PhotoDeleted => "Tu foto y este resultado se han eliminado de nuestros servidores.",
        Key::DeleteFailed => "No se ha podido eliminar. Inténtalo de nuevo en un momento.",
        Key::Cancel => "Cancelar",
        Key::ErrorHeading => "No ha funcionado",
        Key::ErrInvalidImage => "No hemos podido leer esta foto. Puede estar dañada; elige otra.",
        Key::ErrUnsupportedType => {
            "Este formato de foto no es compatible aquí. Elige un JPEG o PNG."
        }
        Key::ErrImageTooLarge => "Esta foto es demasiado grande. Elige una más pequeña.",
        Key::ErrMissingField => "Faltaba algo en la solicitud. Vuelve a intentarlo.",
        Key::ErrInvalidField => "Este artículo no se puede probar con esta configuración.",
        Key::ErrGarmentUrlNotAllowed => {
            "La imagen de este artículo no se puede usar para la prueba."
        }
        Key::ErrNotFound => "Esta prueba ha caducado. Empieza de nuevo.",
        Key::ErrNotReady => "Tu look aún no está listo. Vuelve a intentarlo en un momento.",
        Key::ErrRateLimited => {
            "Ahora mismo hay mucha gente probándose cosas. Espera un minuto y vuelve a intentarlo."
        }
        Key::ErrProviderUnavailable => {
            "La prueba no está disponible ahora mismo. Vuelve a intentarlo más tarde."
        }
        Key::ErrProviderFailed => {
            "Esta vez no hemos podido crear tu look. Vuelve a intentarlo o usa otra foto."
        }
        Key::ErrIdempotencyKeyReused => {
            "Esta prueba ya se envió con otros datos. Vuelve a intentarlo."
        }
        Key::ErrIdempotencyKeyInUse => {
            "Tu foto aún se está enviando. Espera un momento y vuelve a intentarlo."
        }
        Key::ErrContentRejected => "Esta foto no se puede usar para la prueba. Elige otra foto.",
        Key::ErrPoseNotDetected => {
            "No hemos encontrado un cuerpo entero en esta foto. Usa una en la que estés de pie, mirando a la cámara."
        }
        Key::ErrUnauthorized => {
            "No se ha podido verificar esta solicitud. Recarga la página y vuelve a intentarlo."
        }
        Key::ErrRequestTimeout => {
            "El envío ha tardado demasiado. Comprueba tu conexión y vuelve a intentarlo."
        }
        Key::ErrStoreUnavailable => {
            "La prueba no funciona por un momento. Vuelve a intentarlo en unos minutos."
        }
        Key::ErrInternal => "Algo ha fallado por nuestra parte. Vuelve a intentarlo.",
        Key::ErrPhotoNotFound => "Tu foto ya no está en nuestro servidor. Vuelve a elegirla.",
        Key::ErrNetwork => {
            "No podemos conectar con el servicio de prueba. Comprueba tu conexión y vuelve a intentarlo."
        }
        Key::ErrUploadFailed => {
            "La subida se ha interrumpido. Comprueba tu conexión y vuelve a intentarlo."
        }
        Key::ErrUnexpectedAnswer => {
            "El servicio de prueba ha dado una respuesta que no entendemos. Vuelve a intentarlo más tarde."
        }
        Key::ErrResultUnavailable => {
            "Tu look está listo, pero no se ha podido descargar. Vuelve a intentarlo."
        }
        Key::ErrPreparerUnavailable => {
            "La preparación de la foto no ha podido iniciarse en este navegador. Recarga la página y vuelve a intentarlo."
        }
        Key::ErrNoGarment => "Este artículo no tiene ninguna imagen para probar.",
        Key::CheckingPhoto => "Comprobando tu foto",
        Key::ExampleNotice => {
            "Resultado de ejemplo: en el editor de temas no se envía ninguna foto ni se gasta ninguna prueba."
        }
        Key::IssueNoPerson => {
            "No hemos encontrado a ninguna persona en esta foto. Elige una en la que se te vea de la cabeza a los pies."
        }
        Key::IssueMultiplePeople => {
            "Hay más de una persona en esta foto. Elige una en la que salgas tú sola o solo."
        }
        Key::IssueNotFacingForward => {
            "En esta foto no miras a la cámara. Elige una en la que estés de frente."
        }
        Key::IssuePersonTooSmall => {
            "Sales demasiado pequeña o pequeño en esta foto. Elige una tomada más de cerca."
        }
        Key::IssuePersonSlightlySmall => {
            "Sales algo pequeña o pequeño en esta foto; una tomada más de cerca queda mejor."
        }
        Key::IssuePoseUnclear => "Tu postura se distingue mal; de pie y recta o recto queda mejor.",
        Key::IssuePoseUnsupported => {
            "Puede que esta pose no funcione bien; de pie y recta o recto queda mejor."
        }
        Key::IssueTooFewPixels => {
            "Esta foto es demasiado pequeña para una prueba. Elige una más grande."
        }
        Key::IssueSoftPhoto => "Esta foto es pequeña, así que el resultado puede salir borroso.",
        Key::IssueLandscapePhoto => {
            "Funciona mejor una foto en vertical en la que se vea todo tu cuerpo."
        }
        Key::IssueUnsuitable => {
            "Esta foto no sirve para una prueba. Elige otra en la que se te vea bien."
        }
        Key::IssueMayDisappoint => "Puede que con esta foto el resultado no sea el mejor.",
        Key::Unavailable => "La prueba aún no está disponible en esta página.",
    }
}
