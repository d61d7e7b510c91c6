//! Japanese sentences. One arm per key: the compiler refuses a missing one.

use super::Key;

pub(super) fn text(key: Key) -> &'static str {
    match key {
        Key::ButtonLabel => "試着する",
        Key::DialogTitle => "着用イメージを見る",
        Key::Close => "閉じる",
        Key::TipsHeading => "きれいに仕上げるコツ",
        Key::TipFullBody => "頭から足まで全身を写してください。",
        Key::TipFacingForward => "カメラに向かってまっすぐ立ってください。",
        Key::TipPlainBackground => "無地の背景の前に立ってください。",
        Key::ChoosePhoto => "写真を選ぶ・撮る",
        Key::ChooseAnother => "別の写真を選ぶ",
        Key::PreviewAlt => "準備した写真",
        Key::PhotoFacts => "{kb} KB · {width} × {height} px",
        Key::MetadataRemoved => "位置情報とカメラ情報を削除しました",
        Key::PhotoKept => "サーバーに{min}分間保存した後、削除します",
        Key::Submit => "試着する",
        Key::ProgressLabel => "試着の進み具合",
        Key::Preparing => "写真を準備しています",
        Key::Uploading => "アップロード中 {percent}%",
        Key::Starting => "開始しています",
        Key::InLine => "順番待ち：あと{ahead}人",
        Key::Next => "次の順番です",
        Key::Creating => "着用イメージを作成中 {percent}%",
        Key::Done => "完了",
        Key::ResultAlt => "この商品を着用したあなた",
        Key::TryAnother => "別の写真で試す",
        Key::TryAgain => "もう一度試す",
        Key::AiGenerated => "AI生成のプレビュー",
        Key::CompareLabel => "元の写真と比べる",
        Key::BeforeAlt => "あなたの写真（試着前）",
        Key::Download => "ダウンロード",
        Key::Share => "共有",
        Key::AddToCart => "カートに追加",
        Key::RememberPhoto => "この端末に写真を保存する",
        Key::RememberHint => "このブラウザー内にのみ保存され、サーバーには保存されません。",
        Key::PhotoRemembered => "写真はこの端末に保存されています。",
        Key::ForgetPhoto => "写真を削除する",
        Key::PhotoForgotten => "写真をこの端末から削除しました。",
        Key::DeletePhoto => "今すぐ写真を削除",
        Key::PhotoDeleted => "写真とこの結果をサーバーから削除しました。",
        Key::DeleteFailed => "削除できませんでした。少し待ってからもう一度お試しください。",
        Key::Cancel => "キャンセル",
        Key::ErrorHeading => "うまくいきませんでした",
        Key::ErrInvalidImage => {
            "この写真を読み込めませんでした。破損している可能性があります。別の写真を選んでください。"
        }
        Key::ErrUnsupportedType => {
            "この写真の形式はここでは使えません。JPEG または PNG を選んでください。"
        }
        Key::ErrImageTooLarge => "写真のサイズが大きすぎます。もっと小さい写真を選んでください。",
        Key::ErrMissingField => {
            "リクエストに必要な情報が不足していました。もう一度お試しください。"
        }
        Key::ErrInvalidField => "この設定ではこの商品を試着できません。",
        Key::ErrGarmentUrlNotAllowed => "この商品の画像は試着に使用できません。",
        Key::ErrNotFound => "この試着は有効期限が切れました。最初からやり直してください。",
        Key::ErrNotReady => {
            "着用イメージはまだできていません。少し待ってからもう一度お試しください。"
        }
        Key::ErrRateLimited => {
            "ただいま試着が大変混み合っています。1分ほど待ってからもう一度お試しください。"
        }
        Key::ErrProviderUnavailable => {
            "現在、試着をご利用いただけません。しばらくしてからもう一度お試しください。"
        }
        Key::ErrProviderFailed => {
            "今回は着用イメージを作成できませんでした。もう一度試すか、別の写真をお使いください。"
        }
        Key::ErrIdempotencyKeyReused => {
            "この試着は別の内容ですでに送信されています。もう一度お試しください。"
        }
        Key::ErrIdempotencyKeyInUse => {
            "写真はまだ送信中です。少し待ってからもう一度お試しください。"
        }
        Key::ErrContentRejected => "この写真は試着に使用できません。別の写真を選んでください。",
        Key::ErrPoseNotDetected => {
            "この写真から全身を見つけられませんでした。カメラに向かって立っている写真をお使いください。"
        }
        Key::ErrUnauthorized => {
            "このリクエストを確認できませんでした。ページを再読み込みして、もう一度お試しください。"
        }
        Key::ErrRequestTimeout => {
            "送信に時間がかかりすぎました。通信状況を確認して、もう一度お試しください。"
        }
        Key::ErrStoreUnavailable => {
            "試着は一時的に停止しています。数分後にもう一度お試しください。"
        }
        Key::ErrInternal => "こちらで問題が発生しました。もう一度お試しください。",
        Key::ErrPhotoNotFound => "写真はサーバーから削除されています。もう一度選んでください。",
        Key::ErrNetwork => {
            "試着サービスに接続できません。通信状況を確認して、もう一度お試しください。"
        }
        Key::ErrUploadFailed => {
            "アップロードが中断されました。通信状況を確認して、もう一度お試しください。"
        }
        Key::ErrUnexpectedAnswer => {
            "試着サービスから予期しない応答がありました。しばらくしてからもう一度お試しください。"
        }
        Key::ErrResultUnavailable => {
            "着用イメージはできましたが、読み込めませんでした。もう一度お試しください。"
        }
        Key::ErrPreparerUnavailable => {
            "このブラウザでは写真の準備を開始できませんでした。ページを再読み込みして、もう一度お試しください。"
        }
        Key::ErrNoGarment => "この商品には試着用の画像がありません。",
        Key::CheckingPhoto => "写真を確認しています",
        Key::ExampleNotice => {
            "結果の例です。テーマエディターでは写真は送信されず、試着回数も使われません。"
        }
        Key::IssueNoPerson => {
            "この写真に人物が見つかりませんでした。頭から足まで写っている写真を選んでください。"
        }
        Key::IssueMultiplePeople => {
            "この写真には複数の人が写っています。お一人で写っている写真を選んでください。"
        }
        Key::IssueNotFacingForward => {
            "この写真ではカメラの方を向いていません。正面を向いた写真を選んでください。"
        }
        Key::IssuePersonTooSmall => {
            "この写真では人物が小さすぎます。もっと近くで撮った写真を選んでください。"
        }
        Key::IssuePersonSlightlySmall => {
            "この写真では人物がやや小さめです。近くで撮った写真のほうがきれいに仕上がります。"
        }
        Key::IssuePoseUnclear => {
            "姿勢がわかりにくい写真です。まっすぐ立った写真がいちばんきれいに仕上がります。"
        }
        Key::IssuePoseUnsupported => {
            "このポーズはうまくいかない場合があります。まっすぐ立った写真がいちばんきれいに仕上がります。"
        }
        Key::IssueTooFewPixels => {
            "この写真は試着には小さすぎます。もっと大きな写真を選んでください。"
        }
        Key::IssueSoftPhoto => "この写真は小さいため、仕上がりがぼやける場合があります。",
        Key::IssueLandscapePhoto => "全身が写った縦長の写真がいちばんきれいに仕上がります。",
        Key::IssueUnsuitable => {
            "この写真は試着に向いていません。はっきり写っている別の写真を選んでください。"
        }
        Key::IssueMayDisappoint => "この写真では仕上がりが最適にならない場合があります。",
        Key::Unavailable => "このページではまだ試着をご利用いただけません。",
    }
}
