//! The console's languages: English, Korean and Japanese. The language is the user's setting
//! (the `gsomia_lang` cookie, set from the navigation bar) or else the best of the browser's
//! `Accept-Language` that the console speaks, else English. Only the console's own words are
//! translated: level names are always written in their scheme's own script (`極秘 GOKUHI`,
//! `II급 비밀`), and what users and partners wrote is shown as written.

use axum::http::header;
use axum::http::request::Parts;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// Korean.
    Ko,
    /// Japanese.
    Ja,
}

/// The cookie of the user's setting.
pub const COOKIE: &str = "gsomia_lang";

impl Lang {
    /// Every language, in the order the setting lists them.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Ko, Lang::Ja];

    /// The BCP 47 code (`lang` attribute, cookie value).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
            Lang::Ja => "ja",
        }
    }

    /// The language's own name.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ko => "한국어",
            Lang::Ja => "日本語",
        }
    }

    /// The language of a code (`ko`, `ko-KR`, `ja-JP`, `en-GB`…), if the console speaks it.
    pub fn of(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The language of a request: the setting's cookie, else `Accept-Language` (by weight),
    /// else English.
    pub fn of_request(parts: &Parts) -> Lang {
        if let Some(l) = super::cookie(parts, COOKIE).and_then(Lang::of) {
            return l;
        }
        let Some(accept) = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::En;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::of) else {
                continue;
            };
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }
}

/// The console's words in `lang`: the English text is the key; a word without a translation
/// is shown in English (a test checks that every word the pages use has both).
pub fn t(lang: Lang, en: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Ko => WORDS.iter().find(|w| w.0 == en).map_or(en, |w| w.1),
        Lang::Ja => WORDS.iter().find(|w| w.0 == en).map_or(en, |w| w.2),
    }
}

/// English, Korean, Japanese.
pub const WORDS: &[(&str, &str, &str)] = &[
    ("Home", "홈", "ホーム"),
    ("Items", "자료", "資料"),
    ("Publish", "게시", "公開"),
    ("Search", "검색", "検索"),
    ("Consents", "동의", "同意"),
    ("Incidents", "사고", "事故"),
    ("Audit", "감사", "監査"),
    ("Audit log", "감사 기록", "監査ログ"),
    ("Sign in", "로그인", "サインイン"),
    ("Sign out", "로그아웃", "サインアウト"),
    ("User id", "사용자 ID", "ユーザーID"),
    (
        "Token or passphrase",
        "토큰 또는 암호문",
        "トークンまたはパスフレーズ",
    ),
    ("Language", "언어", "言語"),
    ("Set", "설정", "設定"),
    (
        "NO CLASSIFIED CONTENT ON THIS PAGE",
        "이 페이지에 비밀 내용 없음",
        "このページに秘密の内容はありません",
    ),
    ("originator", "생산자", "作成者"),
    ("Agreements on", "협정 현황:", "協定の状況:"),
    ("Agreement", "협정", "協定"),
    ("State", "상태", "状態"),
    ("In force since", "발효일", "発効日"),
    ("Notice deadline", "통보 기한", "通告期限"),
    ("Ends", "종료", "終了"),
    (
        "notice must be received by",
        "통보 도달 기한",
        "通告の到達期限",
    ),
    ("Partners", "상대국", "相手国"),
    ("Partner", "상대국", "相手国"),
    ("Queued", "대기", "待機"),
    ("Last delivered", "최종 전달", "最終配信"),
    ("Last failure", "최종 실패", "最終失敗"),
    (
        "Our checkpoint cosigned at",
        "공동 서명된 체크포인트",
        "連署されたチェックポイント",
    ),
    ("Consent requests", "동의 요청", "同意の要請"),
    ("waiting for an answer", "건 답변 대기", "件が回答待ち"),
    ("recorded", "건 기록", "件記録"),
    ("Topic", "주제", "主題"),
    ("Originator", "생산자", "作成者"),
    ("Level", "등급", "区分"),
    ("Since", "부터", "から"),
    ("Until", "까지", "まで"),
    ("any", "전체", "すべて"),
    ("Filter", "필터", "絞り込み"),
    (
        "Nothing you may read here.",
        "열람할 수 있는 자료가 없습니다.",
        "閲覧できる資料はありません。",
    ),
    ("Marking", "표지", "表示"),
    ("Name", "이름", "名称"),
    ("Type", "유형", "種類"),
    ("Topics", "주제", "主題"),
    ("Added", "등록", "登録"),
    ("Next page", "다음 페이지", "次のページ"),
    ("Description", "설명", "説明"),
    ("Pattern", "패턴", "パターン"),
    ("Purpose", "목적", "目的"),
    ("Grading", "평가", "評価"),
    ("Originator's level", "생산자 등급", "作成者の区分"),
    ("Releasable to", "제공 가능 대상", "提供可能先"),
    ("Version", "버전", "版"),
    ("Custody", "관리 이력", "管理履歴"),
    ("Published here.", "여기서 게시됨.", "ここで公開。"),
    ("under", "근거 협정", "根拠協定"),
    ("Related items", "관련 자료", "関連資料"),
    (
        "Items you may read that hold the same observable value:",
        "같은 관측값을 가진 열람 가능 자료:",
        "同じ観測値を含む閲覧可能な資料:",
    ),
    ("None.", "없음.", "なし。"),
    (
        "Report loss or compromise",
        "분실 또는 누설 보고",
        "紛失・漏えいの報告",
    ),
    ("What", "내용", "内容"),
    ("possible compromise", "누설 가능성", "漏えいの可能性"),
    ("compromise", "누설", "漏えい"),
    ("loss", "분실", "紛失"),
    (
        "Report to the originator",
        "생산자에게 보고",
        "作成者に報告",
    ),
    (
        "Ask the originator's consent to release onward",
        "제3자 제공에 대한 생산자 동의 요청",
        "第三者提供について作成者の同意を求める",
    ),
    ("To", "대상", "提供先"),
    ("Ask", "요청", "要請"),
    ("Release", "제공", "提供"),
    ("Preview the decision", "결정 미리 보기", "判断を事前に確認"),
    ("Derive or translate", "파생 또는 번역", "派生・翻訳"),
    (
        "STIX 2.1 object of the new item (JSON)",
        "새 자료의 STIX 2.1 객체 (JSON)",
        "新しい資料の STIX 2.1 オブジェクト (JSON)",
    ),
    ("Derive", "파생", "派生"),
    ("Reclassify", "재분류", "再分類"),
    ("New level", "새 등급", "新しい区分"),
    ("Destroy", "파기", "破棄"),
    ("Reason", "사유", "理由"),
    (
        "Destroy this version (the content and its key are erased)",
        "이 버전 파기 (내용과 키 삭제)",
        "この版を破棄 (内容と鍵を消去)",
    ),
    (
        "Custody at a partner",
        "상대국의 관리 기록",
        "相手国での管理記録",
    ),
    ("Holder", "보유국", "保有国"),
    ("Ask for the proofs", "증명 요청", "証明を要求"),
    ("Back to the item", "자료로 돌아가기", "資料に戻る"),
    ("Item", "자료", "資料"),
    ("Not done", "처리되지 않음", "処理されませんでした"),
    ("Refused", "거부", "拒否"),
    ("Allowed under", "허용 근거:", "許可 根拠:"),
    ("will mark it", "측 표지:", "側の表示:"),
    ("Released", "제공됨", "提供済み"),
    ("Incident reported", "사고 보고됨", "事故を報告しました"),
    ("Consent asked", "동의 요청됨", "同意を要請しました"),
    (
        "Topics (comma-separated)",
        "주제 (쉼표로 구분)",
        "主題 (カンマ区切り)",
    ),
    (
        "STIX 2.1 object (JSON)",
        "STIX 2.1 객체 (JSON)",
        "STIX 2.1 オブジェクト (JSON)",
    ),
    (
        "Releasable to (party codes, comma-separated)",
        "제공 가능 대상 (국가 코드, 쉼표로 구분)",
        "提供可能先 (国コード、カンマ区切り)",
    ),
    ("Grading (e.g. B2)", "평가 (예: B2)", "評価 (例: B2)"),
    ("When", "일시", "日時"),
    ("Reported by", "보고자", "報告者"),
    ("Timeline", "경과", "経緯"),
    ("Terms", "조건", "条件"),
    ("Parties", "당사국", "締約国"),
    ("Term", "기간", "期間"),
    ("Notice", "통보", "通告"),
    ("days", "일", "日"),
    ("Scope", "범위", "範囲"),
    ("Equivalent levels", "상응 등급", "相当する区分"),
    ("Common", "공통", "共通"),
    ("Today", "오늘", "今日"),
    ("What if we gave notice?", "통보한다면?", "通告したら?"),
    ("On", "일자", "日付"),
    ("Show", "보기", "表示"),
    ("Record an event", "사건 기록", "出来事を記録"),
    ("Event", "사건", "出来事"),
    ("notice of termination", "종료 통보", "終了通告"),
    ("suspend our notice", "통보 효력 정지", "通告の効力停止"),
    ("resume our notice", "통보 효력 재개", "通告の効力再開"),
    ("withdraw our notice", "통보 철회", "通告の撤回"),
    ("signature", "서명", "署名"),
    ("Review", "검토", "確認"),
    ("Review the event", "사건 검토", "出来事の確認"),
    ("Record it", "기록", "記録する"),
    ("Contains", "포함", "含む"),
    ("Decision", "결정", "判断"),
    ("Who", "행위자", "実行者"),
    ("Action", "행위", "操作"),
    ("Subject", "대상", "対象"),
    ("Rule", "규칙", "規則"),
    (
        "Latest checkpoint",
        "최신 체크포인트",
        "最新のチェックポイント",
    ),
    ("None yet.", "아직 없음.", "まだありません。"),
    ("Requests from holders", "보유국의 요청", "保有国からの要請"),
    ("Consent (signed)", "동의 (서명)", "同意 (署名)"),
    ("Refuse", "거부", "拒否"),
    ("Answered", "답변함", "回答済み"),
    ("consented", "동의함", "同意"),
    ("refused", "거부함", "拒否"),
    ("Consents held", "보유 중인 동의", "保有する同意"),
    (
        "Consents are for authorities and security officers.",
        "동의는 권한자와 보안 담당관의 업무입니다.",
        "同意は権限者と保全担当官の業務です。",
    ),
    ("Words to find", "검색어", "検索語"),
    ("Matched in", "일치 항목", "一致箇所"),
    ("Related", "관련", "関連"),
    (
        "More results exist: narrow the search.",
        "결과가 더 있습니다. 검색어를 좁히십시오.",
        "さらに結果があります。検索語を絞ってください。",
    ),
    (
        "No match you may read.",
        "열람 가능한 일치 항목이 없습니다.",
        "閲覧できる一致はありません。",
    ),
    ("verified", "검증됨", "検証済み"),
    ("Entries", "기록", "記録"),
    ("Receipts", "수령 확인", "受領確認"),
    ("Released: queued for", "제공: 전송 대기", "提供: 送信待ち"),
    (
        "The delivery status is on the home page.",
        "전달 상태는 홈 페이지에 있습니다.",
        "配信状況はホームページにあります。",
    ),
    (
        "Reported; it goes to",
        "보고됨. 전달 대상:",
        "報告しました。送付先:",
    ),
    (
        "Asked; the originator's answer will show under Consents.",
        "요청됨. 생산자의 답변은 동의 페이지에 표시됩니다.",
        "要請しました。作成者の回答は同意のページに表示されます。",
    ),
    ("asks to release", "제공 요청", "提供を要請"),
    (
        "Their checkpoint witnessed",
        "증인 서명한 상대 체크포인트",
        "立会署名した相手のチェックポイント",
    ),
    ("Follow-up", "후속 조치", "事後措置"),
    ("Result", "결과", "結果"),
    ("Measures", "조치", "措置"),
    ("Report the result", "결과 보고", "結果を報告"),
    ("Treaty", "협정 기록", "協定記録"),
    ("Amendments", "개정", "改正"),
    ("equivalent levels", "등급 대응표", "等級対応表"),
    ("scope", "범위", "範囲"),
    ("signed by", "서명", "署名"),
    ("in force from", "발효", "発効"),
    ("awaiting signature", "서명 대기", "署名待ち"),
    ("Visits", "방문", "訪問"),
    ("inspection", "점검", "検査"),
    ("Authorised", "승인됨", "承認済み"),
    ("Reason, if refused", "거부 사유", "拒否の理由"),
    ("Authorise (signed)", "승인 (서명)", "承認 (署名)"),
    (
        "Not answered yet.",
        "아직 답변 없음.",
        "まだ回答がありません。",
    ),
    ("Findings", "점검 결과", "検査所見"),
    ("Letters", "서한", "書簡"),
    ("answered", "답변됨", "回答済み"),
    ("Assurances", "보증", "保証"),
    ("Contractor facilities", "계약업체 시설", "契約企業の施設"),
    ("last inspected", "최근 점검", "最終検査"),
    ("Standing consents", "상시 동의", "包括同意"),
    ("topic", "주제", "主題"),
    ("revoked", "철회됨", "撤回済み"),
    (
        "The visitor's token, shown once",
        "방문자 토큰 (한 번만 표시)",
        "訪問者のトークン (一度だけ表示)",
    ),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut r = Request::builder();
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_setting_then_accept_language_by_weight_then_english() {
        assert_eq!(Lang::of_request(&parts(&[])), Lang::En);
        let accept = |v| Lang::of_request(&parts(&[("accept-language", v)]));
        assert_eq!(accept("ko-KR,ko;q=0.9,en;q=0.8"), Lang::Ko);
        assert_eq!(accept("fr-FR, ja;q=0.5, en;q=0.4"), Lang::Ja);
        assert_eq!(accept("en-GB, ja;q=0.5"), Lang::En);
        assert_eq!(accept("de, fr"), Lang::En);
        let both = parts(&[("accept-language", "ja"), ("cookie", "gsomia_lang=ko")]);
        assert_eq!(Lang::of_request(&both), Lang::Ko);
    }

    /// Every word the pages ask for is in the table, translated into both languages.
    #[test]
    fn every_word_of_the_pages_is_translated() {
        let pages = include_str!("pages.rs");
        let mut missing = vec![];
        for piece in pages.split("t(l, \"").skip(1) {
            let Some(word) = piece.split('"').next() else {
                continue;
            };
            let found = WORDS.iter().find(|w| w.0 == word);
            if !found.is_some_and(|w| !w.1.is_empty() && !w.2.is_empty()) {
                missing.push(word);
            }
        }
        assert!(
            missing.is_empty(),
            "words without a translation: {missing:?}"
        );
        assert!(pages.matches("t(l, \"").count() > 100);
        let mut keys: Vec<_> = WORDS.iter().map(|w| w.0).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a word is in the table twice");
    }
}
