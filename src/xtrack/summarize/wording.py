"""The offline summarizer's own words in each summary language the job form offers.

The extractive summarizer translates nothing it quotes (it has no model); what it writes itself (the
headline, the counts, the line before off-topic posts, "and N more posts", the link text) follows
the job's language. Outside English the counts are written as labels ("Neue Beiträge: 12") so no
language needs its plural rules here. English keeps its sentences (``extractive.py``).
"""

# ruff: noqa: RUF001  (the translations use full-width colons and the Turkish dotless i on purpose)
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wording:
    new_posts: str  # label before the count of posts in the run
    no_new_posts: str
    topics: str  # label before the topics and the count of posts on them
    nothing_on_topics: str  # the line above the posts quoted when none is on topic
    more_posts: str  # label before the count of posts not quoted
    reposted: str
    replied: str
    post: str  # the link text of each quoted post
    colon: str = ": "


WORDINGS: dict[str, Wording] = {
    "ar": Wording(
        "منشورات جديدة",
        "لا منشورات جديدة",
        "المواضيع",
        "لا شيء عن مواضيعك. أكثر المنشورات الحديثة تفاعلاً:",
        "منشورات أخرى",
        "إعادة نشر",
        "رد",
        "منشور",
    ),
    "de": Wording(
        "Neue Beiträge",
        "Keine neuen Beiträge",
        "Themen",
        "Nichts zu Ihren Themen. Die meistbeachteten neuen Beiträge:",
        "Weitere Beiträge",
        "Geteilt",
        "Antwort",
        "Beitrag",
    ),
    "es": Wording(
        "Publicaciones nuevas",
        "No hay publicaciones nuevas",
        "Temas",
        "Nada sobre tus temas. Las publicaciones recientes con más interacción:",
        "Más publicaciones",
        "Compartido",
        "Respuesta",
        "publicación",
    ),
    "fr": Wording(
        "Nouvelles publications",
        "Aucune nouvelle publication",
        "Sujets",
        "Rien sur vos sujets. Les publications récentes les plus populaires :",
        "Autres publications",
        "Repartagé",
        "Réponse",
        "publication",
        colon=" : ",
    ),
    "hi": Wording(
        "नई पोस्ट",
        "कोई नई पोस्ट नहीं",
        "विषय",
        "आपके विषयों पर कुछ नहीं। हाल की सबसे लोकप्रिय पोस्ट:",
        "अन्य पोस्ट",
        "रीपोस्ट",
        "जवाब",
        "पोस्ट",
    ),
    "it": Wording(
        "Nuovi post",
        "Nessun nuovo post",
        "Argomenti",
        "Niente sui tuoi argomenti. I post recenti più seguiti:",
        "Altri post",
        "Ricondiviso",
        "Risposta",
        "post",
    ),
    "ja": Wording(
        "新しい投稿",
        "新しい投稿はありません",
        "トピック",
        "トピックに関する投稿はありません。最近の注目の投稿：",
        "その他の投稿",
        "リポスト",
        "返信",
        "投稿",
        colon="：",
    ),
    "ko": Wording(
        "새 게시물",
        "새 게시물 없음",
        "주제",
        "주제에 관한 게시물이 없습니다. 최근 반응이 많은 게시물:",
        "기타 게시물",
        "재게시",
        "답글",
        "게시물",
    ),
    "nl": Wording(
        "Nieuwe berichten",
        "Geen nieuwe berichten",
        "Onderwerpen",
        "Niets over je onderwerpen. De populairste recente berichten:",
        "Overige berichten",
        "Gedeeld",
        "Antwoord",
        "bericht",
    ),
    "pl": Wording(
        "Nowe wpisy",
        "Brak nowych wpisów",
        "Tematy",
        "Nic na Twoje tematy. Najpopularniejsze ostatnie wpisy:",
        "Pozostałe wpisy",
        "Udostępniono",
        "Odpowiedź",
        "wpis",
    ),
    "pt": Wording(
        "Novas publicações",
        "Nenhuma publicação nova",
        "Temas",
        "Nada sobre os seus temas. As publicações recentes com mais interação:",
        "Outras publicações",
        "Partilhado",
        "Resposta",
        "publicação",
    ),
    "pt-br": Wording(
        "Novas publicações",
        "Nenhuma publicação nova",
        "Temas",
        "Nada sobre seus temas. As publicações recentes com mais interação:",
        "Outras publicações",
        "Compartilhado",
        "Resposta",
        "publicação",
    ),
    "ru": Wording(
        "Новые посты",
        "Новых постов нет",
        "Темы",
        "Ничего по вашим темам. Самые популярные недавние посты:",
        "Другие посты",
        "Репост",
        "Ответ",
        "пост",
    ),
    "sv": Wording(
        "Nya inlägg",
        "Inga nya inlägg",
        "Ämnen",
        "Inget om dina ämnen. De mest engagerande senaste inläggen:",
        "Övriga inlägg",
        "Delat",
        "Svar",
        "inlägg",
    ),
    "tr": Wording(
        "Yeni gönderiler",
        "Yeni gönderi yok",
        "Konular",
        "Konularınızla ilgili bir şey yok. En çok etkileşim alan son gönderiler:",
        "Diğer gönderiler",
        "Yeniden paylaşıldı",
        "Yanıt",
        "gönderi",
    ),
    "uk": Wording(
        "Нові дописи",
        "Нових дописів немає",
        "Теми",
        "Нічого на ваші теми. Найпопулярніші нещодавні дописи:",
        "Інші дописи",
        "Поширено",
        "Відповідь",
        "допис",
    ),
    "zh": Wording(
        "新帖子",
        "没有新帖子",
        "主题",
        "没有与您的主题相关的内容。最近最受关注的帖子：",
        "其他帖子",
        "转发",
        "回复",
        "帖子",
        colon="：",
    ),
}


def wording_for(language: str) -> Wording | None:
    """The words for ``language`` (``pt-BR`` and ``pt_br`` alike; ``de-AT`` as ``de``); None for
    English and for languages the form does not offer, which get the English sentences."""
    code = language.strip().lower().replace("_", "-")
    return WORDINGS.get(code) or WORDINGS.get(code.split("-")[0])


def labelled(wording: Wording, label: str, value: int | str) -> str:
    return f"{label}{wording.colon}{value}"


def headline(wording: Wording, username: str, post_count: int, topics: list[str], on_topic: int) -> str:
    """``@alice · Neue Beiträge: 12 · Themen (AI, chips): 3``; the topics named are those matched,
    or the first three asked for when none was."""
    parts = [f"@{username}", labelled(wording, wording.new_posts, post_count)]
    if topics:
        parts.append(labelled(wording, f"{wording.topics} ({', '.join(topics[:3])})", on_topic))
    return " · ".join(parts)


def more_posts(wording: Wording, others: int, other_on_topic: int) -> str:
    """``Weitere Beiträge: 9 (Themen: 2)``: the posts the summary does not quote."""
    text = labelled(wording, wording.more_posts, others)
    if other_on_topic:
        text += f" ({labelled(wording, wording.topics, other_on_topic)})"
    return text


@dataclass(frozen=True, slots=True)
class BriefingWords:
    title: str  # the headline's first word, where English says "Briefing"
    accounts: str  # label before the count of accounts read
    reposted_by: str  # label before the followed accounts that reposted a post


BRIEFING_WORDS: dict[str, BriefingWords] = {
    "ar": BriefingWords("موجز", "الحسابات", "أعاد نشره"),
    "de": BriefingWords("Überblick", "Konten", "Geteilt von"),
    "es": BriefingWords("Resumen", "Cuentas", "Compartido por"),
    "fr": BriefingWords("Synthèse", "Comptes", "Repartagé par"),
    "hi": BriefingWords("सारांश", "खाते", "रीपोस्ट करने वाले"),
    "it": BriefingWords("Panoramica", "Profili", "Ricondiviso da"),
    "ja": BriefingWords("まとめ", "アカウント", "リポストしたアカウント"),
    "ko": BriefingWords("브리핑", "계정", "재게시한 계정"),
    "nl": BriefingWords("Overzicht", "Accounts", "Gedeeld door"),
    "pl": BriefingWords("Przegląd", "Konta", "Udostępnili"),
    "pt": BriefingWords("Resumo", "Contas", "Partilhado por"),
    "pt-br": BriefingWords("Resumo", "Contas", "Compartilhado por"),
    "ru": BriefingWords("Обзор", "Аккаунты", "Репост сделали"),
    "sv": BriefingWords("Översikt", "Konton", "Delat av"),
    "tr": BriefingWords("Özet", "Hesaplar", "Yeniden paylaşanlar"),
    "uk": BriefingWords("Огляд", "Акаунти", "Поширили"),
    "zh": BriefingWords("简报", "账号", "转发者"),
}


def briefing_words_for(language: str) -> BriefingWords | None:
    """A briefing's own words for ``language`` (as :func:`wording_for`); None: English."""
    code = language.strip().lower().replace("_", "-")
    return BRIEFING_WORDS.get(code) or BRIEFING_WORDS.get(code.split("-")[0])


def briefing_headline(
    wording: Wording, words: BriefingWords, post_count: int, account_count: int, themes: list[str]
) -> str:
    """``Überblick · Neue Beiträge: 12 · Konten: 3 · Themen: AI, chips``."""
    parts = [
        words.title,
        labelled(wording, wording.new_posts, post_count),
        labelled(wording, words.accounts, account_count),
    ]
    if themes:
        parts.append(labelled(wording, wording.topics, ", ".join(themes[:3])))
    return " · ".join(parts)
