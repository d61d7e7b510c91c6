//! Brazilian Portuguese sentences. One arm per key: the compiler refuses a missing one.

use super::Key;

pub(super) fn text(key: Key) -> &'static str {
    match key {
        Key::ButtonLabel => "Experimentar",
        Key::DialogTitle => "Veja como fica em você",
        Key::Close => "Fechar",
        Key::TipsHeading => "Para o melhor resultado",
        Key::TipFullBody => "Mostre o corpo inteiro, da cabeça aos pés.",
        Key::TipFacingForward => "Fique de frente para a câmera e em pé, reto.",
        Key::TipPlainBackground => "Fique na frente de um fundo liso.",
        Key::ChoosePhoto => "Escolher ou tirar uma foto",
        Key::ChooseAnother => "Escolher outra foto",
        Key::PreviewAlt => "Sua foto preparada",
        Key::PhotoFacts => "{kb} KB · {width} × {height} px",
        Key::MetadataRemoved => "Dados de localização e da câmera removidos",
        Key::PhotoKept => "Fica {min} min em nosso servidor e depois é excluída",
        Key::Submit => "Experimentar",
        Key::ProgressLabel => "Progresso da prova",
        Key::Preparing => "Preparando a foto",
        Key::Uploading => "Enviando {percent}%",
        Key::Starting => "Iniciando",
        Key::InLine => "Na fila: {ahead} antes de você",
        Key::Next => "Você é o próximo",
        Key::Creating => "Criando seu look {percent}%",
        Key::Done => "Pronto",
        Key::ResultAlt => "Você, usando este item",
        Key::TryAnother => "Tentar outra foto",
        Key::TryAgain => "Tentar de novo",
        Key::AiGenerated => "Prévia gerada por IA",
        Key::CompareLabel => "Comparar com sua foto",
        Key::BeforeAlt => "Sua foto, antes",
        Key::Download => "Baixar",
        Key::Share => "Compartilhar",
        Key::AddToCart => "Adicionar ao carrinho",
        Key::RememberPhoto => "Lembrar minha foto neste dispositivo",
        Key::RememberHint => "Guardada só neste navegador, nunca em nossos servidores.",
        Key::PhotoRemembered => "Sua foto está salva neste dispositivo.",
        Key::ForgetPhoto => "Esquecer minha foto",
        Key::PhotoForgotten => "Sua foto foi removida deste dispositivo.",
        Key::DeletePhoto => "Excluir minha foto agora",
        Key::PhotoDeleted => "Sua foto e este resultado foram excluídos dos nossos servidores.",
        Key::DeleteFailed => "Não foi possível excluir. Tente de novo em instantes.",
        Key::Cancel => "Cancelar",
        Key::ErrorHeading => "Não deu certo",
        Key::ErrInvalidImage => {
            "Não conseguimos ler esta foto. Ela pode estar danificada; escolha outra."
        }
        Key::ErrUnsupportedType => {
            "Este formato de foto não é compatível aqui. Escolha um JPEG ou PNG."
        }
        Key::ErrImageTooLarge => "Esta foto é grande demais. Escolha uma menor.",
        Key::ErrMissingField => "Faltou algo na solicitação. Tente de novo.",
        Key::ErrInvalidField => "Este produto não pode ser experimentado com estas configurações.",
        Key::ErrGarmentUrlNotAllowed => "A imagem deste produto não pode ser usada na prova.",
        Key::ErrNotFound => "Esta prova expirou. Comece de novo.",
        Key::ErrNotReady => "Seu look ainda não está pronto. Tente de novo em instantes.",
        Key::ErrRateLimited => {
            "Muitas pessoas estão experimentando agora. Aguarde um minuto e tente de novo."
        }
        Key::ErrProviderUnavailable => {
            "A prova virtual está indisponível no momento. Tente de novo mais tarde."
        }
        Key::ErrProviderFailed => {
            "Não conseguimos criar seu look desta vez. Tente de novo ou use outra foto."
        }
        Key::ErrIdempotencyKeyReused => {
            "Esta prova já foi enviada com outros dados. Tente de novo."
        }
        Key::ErrIdempotencyKeyInUse => {
            "Sua foto ainda está sendo enviada. Aguarde um momento e tente de novo."
        }
        Key::ErrContentRejected => "Esta foto não pode ser usada na prova. Escolha outra foto.",
        Key::ErrPoseNotDetected => {
            "Não encontramos um corpo inteiro nesta foto. Use uma em que você esteja em pé, de frente para a câmera."
        }
        Key::ErrUnauthorized => {
            "Não foi possível verificar esta solicitação. Recarregue a página e tente de novo."
        }
        Key::ErrRequestTimeout => "O envio demorou demais. Verifique sua conexão e tente de novo.",
        Key::ErrStoreUnavailable => {
            "A prova virtual está fora do ar por um momento. Tente de novo em alguns minutos."
        }
        Key::ErrInternal => "Algo deu errado do nosso lado. Tente de novo.",
        Key::ErrPhotoNotFound => "Sua foto não está mais no nosso servidor. Escolha-a de novo.",
        Key::ErrNetwork => {
            "Não conseguimos acessar o serviço de prova. Verifique sua conexão e tente de novo."
        }
        Key::ErrUploadFailed => "O envio foi interrompido. Verifique sua conexão e tente de novo.",
        Key::ErrUnexpectedAnswer => {
            "O serviço de prova deu uma resposta que não entendemos. Tente de novo mais tarde."
        }
        Key::ErrResultUnavailable => {
            "Seu look está pronto, mas não pôde ser baixado. Tente de novo."
        }
        Key::ErrPreparerUnavailable => {
            "A preparação da foto não pôde começar neste navegador. Recarregue a página e tente de novo."
        }
        Key::ErrNoGarment => "Este produto não tem imagem para experimentar.",
        Key::CheckingPhoto => "Verificando sua foto",
        Key::ExampleNotice => {
            "Resultado de exemplo: no editor de temas nenhuma foto é enviada e nenhuma prova é usada."
        }
        Key::IssueNoPerson => {
            "Não encontramos nenhuma pessoa nesta foto. Escolha uma que mostre você da cabeça aos pés."
        }
        Key::IssueMultiplePeople => {
            "Há mais de uma pessoa nesta foto. Escolha uma em que você esteja sozinha ou sozinho."
        }
        Key::IssueNotFacingForward => {
            "Nesta foto você não está de frente para a câmera. Escolha uma em que esteja de frente."
        }
        Key::IssuePersonTooSmall => {
            "Você aparece pequena ou pequeno demais nesta foto. Escolha uma tirada mais de perto."
        }
        Key::IssuePersonSlightlySmall => {
            "Você aparece um pouco pequena ou pequeno nesta foto; uma tirada mais de perto fica melhor."
        }
        Key::IssuePoseUnclear => {
            "Sua postura está difícil de distinguir; em pé e com o corpo reto fica melhor."
        }
        Key::IssuePoseUnsupported => {
            "Esta pose pode não funcionar bem; em pé e com o corpo reto fica melhor."
        }
        Key::IssueTooFewPixels => "Esta foto é pequena demais para uma prova. Escolha uma maior.",
        Key::IssueSoftPhoto => "Esta foto é pequena, então o resultado pode sair desfocado.",
        Key::IssueLandscapePhoto => {
            "Uma foto na vertical mostrando o corpo inteiro funciona melhor."
        }
        Key::IssueUnsuitable => {
            "Esta foto não serve para uma prova. Escolha outra em que você apareça bem."
        }
        Key::IssueMayDisappoint => "Com esta foto, o resultado pode não ficar dos melhores.",
        Key::Unavailable => "A prova virtual ainda não está disponível nesta página.",
    }
}
