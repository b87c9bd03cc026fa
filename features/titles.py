"""Job-title parsing: seniority level and department from free-text titles, English and Japanese.

A title is normalised first (``jaconv.normalize`` = NFKC plus dash/wave-dash fixes, so ｶﾀｶﾅ →
カタカナ, ＣＥＯ → CEO and the ideographic space becomes a plain space; then case-folded, with
separators such as ・ ／ 兼 turned into spaces). Trap phrases are then rewritten to neutral
tokens, and the seniority levels are tried from the most senior down: the first level whose
pattern appears wins, so "取締役 営業本部長" is c_level and "営業部長" is director.

Decisions (documented so nobody has to reverse-engineer them):

* 代表取締役, 社長, 会長, 副社長, 取締役 (incl. 専務・常務), CEO/CxO, Founder, Owner, President,
  Managing Director (UK sense) → ``c_level``. 取締役 are board members and, in Japanese mid-size
  companies, the final approvers (決裁者), so they rank with the CxOs.
* 執行役員 / 執行役 / Executive Officer (officers who are not board members), 本部長, 事業部長,
  監査役, VP/SVP/EVP → ``vp``: they head multi-department divisions above 部長.
* 部長 (incl. 副部長, 部長代理, 担当部長), 次長, 室長, 所長, 支店長, 工場長, Director, Head of ...,
  AVP, Chief of Staff, ゼネラルマネージャー → ``director``. 次長 sits between 課長 and 部長; it is
  the 部長's deputy with budget say, so it joins ``director`` rather than ``manager``.
  English "General Manager"/"GM" stays ``manager`` (outside Japan it is often a site manager).
* 課長, Manager, GM, マネージャー, 店長, 責任者 → ``manager``. "Assistant Manager"/"Deputy Manager",
  アシスタントマネージャー, 課長代理, 課長補佐 → ``lead`` (one step below manager).
  "Associate/Assistant Director" → ``manager``.
* "Account/Product/Project/Program/Customer Success ... Manager" (and the katakana forms),
  "Product Owner", "Art/Creative/Web Director" and Webディレクター are usually individual
  contributors with experience, not people managers → ``senior_individual``.
* 係長, Lead, Team Lead, Supervisor, リーダー, チーフ → ``lead``; 主任, 主査, Senior/Sr,
  Principal, Staff Engineer, Architect → ``senior_individual``; 担当, 一般, スタッフ, Engineer,
  Analyst, Account Executive, Assistant, Intern ... → ``individual``.
* Secretaries and assistants of an executive (社長秘書, "Assistant to the CEO") are
  ``individual``; 社長室 / "Office of the CEO" names a department, not a level.
* A title with text but no recognised level is ``unknown`` (rank 0), like a blank title.

Department comes from the department text when it names a known function, else from the title;
``other`` when some text exists but names none, ``unknown`` when both are blank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import jaconv
import numpy as np
import pandas as pd

from features.inputs import map_distinct, object_array

SENIORITY_LEVELS: tuple[str, ...] = (
    "unknown", "individual", "senior_individual", "lead", "manager", "director", "vp", "c_level",
)
SENIORITY_RANK: dict[str, int] = {level: rank for rank, level in enumerate(SENIORITY_LEVELS)}
DEPARTMENTS: tuple[str, ...] = (
    "sales", "marketing", "it", "engineering", "finance", "hr", "operations", "executive",
    "other", "unknown",
)
SENIORITY_DTYPE = pd.CategoricalDtype(list(SENIORITY_LEVELS), ordered=True)
DEPARTMENT_DTYPE = pd.CategoricalDtype(list(DEPARTMENTS))

_SPECIFIC_DEPARTMENTS = frozenset(DEPARTMENTS) - {"other", "unknown"}


@dataclass(frozen=True)
class ParsedTitle:
    """What a job title says about a person: seniority level, its rank and department."""

    seniority: str
    seniority_rank: int
    department: str


def _words(*words: str) -> str:
    """Alternation of ASCII words that must not touch other ASCII letters or digits."""
    return r"(?<![a-z0-9])(?:" + "|".join(words) + r")(?![a-z0-9])"


def _compile(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts))


# Trap phrases rewritten to neutral tokens before levels are matched (order matters).
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), token) for pattern, token in (
        (r"\S*秘書\S*", " xassistant "),
        (_words(r"(?:executive |personal )?(?:assistant|secretary) to") + r".*$", " xassistant "),
        (_words("executive assistant", "personal assistant", "secretary"), " xassistant "),
        (_words(r"office of (?:the )?(?:ceo|president|chairman)", "ceo office"), " xoffice "),
        (_words("head office", "headquarters"), " xhq "),
        (r"社長室|ceo室|取締役会(?!長)", " xoffice "),
        (_words("chief of staff"), " xchiefofstaff "),
        (_words(r"(?:assistant|associate) (?:vice president|vp)"), " avp "),
        (_words("vice president", "vicepresident"), " vp "),
        (r"[バヴ]ァ?イスプレジデント", " vp "),
        (_words("managing director", "managing partner", "general partner", "founding partner",
                "board member", "self employed", r"freelancer?"), " xclevel "),
        (_words("executive director"), " vp "),
        (_words(r"(?:assistant|associate) director"), " xmanager "),
        (_words(r"(?:art|creative|web|design|film|casting) director"), " xrolesenior "),
        (r"(?:web|ウェブ|アート|クリエイティブ|デザイン)\s?ディレクター", " xrolesenior "),
        (_words(r"(?:assistant|asst|deputy|associate) (?:manager|mgr)"), " xlead "),
        (r"アシスタント\s?マネー?ジャー?", " xlead "),
        (_words(r"(?:senior |sr )?(?:key account|account|product marketing|product|project|"
                r"program|programme|customer success|success|partner|alliance|territory|"
                r"community|social media|content|campaign|event|brand|category|relationship|"
                r"client|case|office) (?:manager|mgr)"), " xrolesenior "),
        (r"(?:プロダクト|プロジェクト|プログラム|アカウント|カスタマーサクセス|パートナー|"
         r"コミュニティ|ブランド|カテゴリー?)\s?マネー?ジャー?", " xrolesenior "),
        (r"ゼネラル\s?マネー?ジャー?", " xdirector "),
        (_words(r"(?:product|process|service|system|data) owner"), " xrolesenior "),
        (r"プロダクト\s?オーナー", " xrolesenior "),
        (r"アカウント\s?エグゼクティブ", " xindividual "),
        (_words(r"lead (?:generation|gen|development|qualification|nurturing)"), " xleadgen "),
        (_words("account executive"), " xindividual "),
        (r"課長(?:代理|補佐)", " xlead "),
    )
)

# Levels from the most senior down; the first that matches wins.
_LEVEL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("c_level", _compile(
        _words("ceo", "coo", "cfo", "cto", "cio", "cmo", "cro", "cpo", "cso", "cdo", "cco",
               "chro", "ciso", "cao", "cxo", "xclevel", r"chief [a-z ]*officer",
               r"(?:co ?)?founder", "owner", "president", "chairman", "chairwoman",
               "chairperson", "chair", "proprietor"),
        r"代表(?:取締役|執行役|理事|社員|者)|^代表$|社長|会長|取締役|専務|常務|理事長|頭取|院長|学長",
        r"創業者|ファウンダー|オーナー|プレジデント|個人事業主|フリーランス|経営者",
    )),
    ("vp", _compile(
        _words("vp", "svp", "evp", r"(?:senior )?executive officer"),
        r"執行役|本部長|事業部長|監査役|(?<![管代])理事",
    )),
    ("director", _compile(
        _words("director", "head", "avp", "xchiefofstaff", "xdirector"),
        r"部長|次長|室長|所長|支店長|支社長|工場長|センター長|局長|部門長|ディレクター",
    )),
    ("manager", _compile(
        _words("manager", "mgr", "gm", "xmanager"),
        r"課長|マネー?ジャ|グループ長|店長|責任者",
    )),
    ("lead", _compile(
        _words("lead", "leader", "team lead", "tech lead", "supervisor", "foreman", "xlead",
               "chief"),
        r"係長|リーダ|班長|職長|チーフ|主幹",
    )),
    ("senior_individual", _compile(
        _words("senior", "sr", "principal", "architect", "expert", "fellow", "xrolesenior",
               r"staff (?:software |data |ml |machine learning )?(?:engineer|scientist|"
               r"developer)"),
        r"主任|主査|シニア|上級|顧問|専門職",
    )),
    ("individual", _compile(
        _words(r"engineer", "developer", "programmer", "analyst", "specialist", "associate",
               "coordinator", "assistant", "xassistant", "intern", "trainee", "representative",
               "rep", "sdr", "bdr", "clerk", "staff", "member", "officer", "accountant",
               "designer", "consultant", "administrator", "admin", "scientist", "researcher",
               "writer", "agent", "advisor", "adviser", "technician", "operator", "planner",
               "buyer", "recruiter", "marketer", "xindividual", "employee", "student"),
        r"担当|一般|スタッフ|社員|職員|係員|メンバー|主事|アルバイト|パート(?!ナー)|派遣|インターン",
        r"研究員|技術者|技師|エンジニア|プログラマ|デザイナ|アナリスト|コンサルタント|事務|"
        r"オペレーター|営業マン|セールスレップ",
    )),
)

# Departments, first match wins; compounds come before the words they contain.
_DEPARTMENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("executive", _compile(
        r"経営企画|経営管理|経営戦略|社長室|xoffice",
        _words("corporate planning", "corporate strategy"),
    )),
    ("it", _compile(
        r"情報システム|情シス|社内se|情報化|インフラ|ヘルプデスク|dx推進|デジタル推進|システム管理",
        _words("it", "ict", "dx", "information technology", "information systems",
               "infrastructure", "helpdesk", "help desk", "cio", "ciso", "sysadmin",
               "information officer", "information security", "security officer",
               r"systems? admin\w*", "network"),
    )),
    ("sales", _compile(
        r"営業|セールス|販売(?!促進)|事業開発|事業推進|アカウント|カスタマーサクセス|代理店|"
        r"アライアンス|パートナー",
        _words("sales", "business development", "bizdev", "bdr", "sdr", "account",
               "account executive", "customer success", "alliances?", "channel", "cro",
               "revenue", "commercial"),
    )),
    ("marketing", _compile(
        r"マーケ|販促|販売促進|宣伝|広報|広告|ブランド|コンテンツ",
        _words("marketing", "marketer", "pr", "public relations", "brand", "communications",
               "demand generation", "lead generation", "growth", "cmo", "seo", "content",
               "market research"),
    )),
    ("hr", _compile(
        r"人事|採用|労務|人材|人財|研修",
        _words("hr", "human resources?", r"recruit\w*", "talent", "people", "chro"),
    )),
    ("finance", _compile(
        r"経理|財務|会計|主計|税務|監査",
        _words("finance", "financial", "accounting", "accountant", "cfo", "controller",
               "treasury", "audit", "tax"),
    )),
    ("engineering", _compile(
        r"開発|エンジニア|技術|研究|設計|プロダクト|品質|プログラマ",
        _words("engineering", r"engineers?", "developer", "development", "r&d", "research",
               "software", "product", "devops", "sre", "qa", "quality", "cto", "architect",
               "programmer", "se", "technology officer"),
    )),
    ("operations", _compile(
        r"総務|管理(?!職)|物流|ロジスティクス|購買|調達|法務|生産|製造|業務|サポート|事務",
        _words("operations", "ops", "logistics", "procurement", "purchasing", "legal",
               "production", "manufacturing", "supply chain", "facilities", "administration",
               "admin", "support", "coo", "operating officer"),
    )),
    ("it", _compile(r"システム", _words("systems?"))),
    ("executive", _compile(
        r"代表|社長|会長|取締役|役員|経営|創業",
        _words("ceo", "founder", "co founder", "president", "owner", "chairman",
               "xclevel", "executive officer", "general management", "board", "strategy",
               "xchiefofstaff", r"chief [a-z ]*officer"),
    )),
)

_PLACEHOLDERS = frozenset({"n a", "na", "none", "null", "nan", "unknown", "select", "不明",
                           "なし", "未入力", "未設定"})
_SEPARATORS = re.compile(r"[/|・,、;:()\[\]{}<>「」『』【】〔〕\"'!?*#_=~]|兼|及び|\s")
_KATAKANA_DASH = re.compile(r"(?<=[ァ-ヶ])-")


def normalize_title(text: object) -> str:
    """Normalise job-title or department text for matching.

    NFKC via jaconv (half-width katakana → full-width, full-width ASCII → ASCII, ideographic
    space → space), case-folded, dots dropped ("Sr." → "sr"), separators and hyphens → spaces.
    Missing values and placeholders ("n/a", "-", "不明", "Select") become ''.
    """
    if text is None or (isinstance(text, float) and text != text) or text is pd.NA:
        return ""
    normal = jaconv.normalize(str(text), "NFKC").casefold().replace(".", "")
    normal = _KATAKANA_DASH.sub("ー", normal)
    normal = " ".join(_SEPARATORS.sub(" ", normal.replace("-", " ")).split())
    return "" if normal in _PLACEHOLDERS else normal


def _rewrite_traps(normal: str) -> str:
    for pattern, token in _REWRITES:
        normal = pattern.sub(token, normal)
    return " ".join(normal.split())


def _seniority_of(normal: str) -> str:
    if not normal:
        return "unknown"
    rewritten = _rewrite_traps(normal)
    for level, pattern in _LEVEL_PATTERNS:
        if pattern.search(rewritten):
            return level
    return "unknown"


def _department_of(normal: str) -> str:
    """Department named by already-normalised text: specific, 'other' or 'unknown'."""
    if not normal:
        return "unknown"
    rewritten = _rewrite_traps(normal)
    for department, pattern in _DEPARTMENT_PATTERNS:
        # executive words are read after the trap rewrites ("Assistant Vice President",
        # 社長秘書 are not executives); other functions keep words the rewrites drop ("account").
        if pattern.search(rewritten if department == "executive" else normal):
            return department
    return "other"


def _combine_departments(from_department: str, from_title: str) -> str:
    if from_department in _SPECIFIC_DEPARTMENTS:
        return from_department
    if from_title in _SPECIFIC_DEPARTMENTS:
        return from_title
    if "other" in (from_department, from_title):
        return "other"
    return "unknown"


def parse_title(title: str | None, department: str | None = None) -> ParsedTitle:
    """Parse one job title (and optional department text) into seniority and department.

    Args:
        title: job title as typed, English or Japanese, any width or case; None for blank.
        department: department as typed; it decides the department when it names a function.

    Returns:
        ParsedTitle with seniority in SENIORITY_LEVELS, its rank (0 unknown .. 7 c_level)
        and department in DEPARTMENTS.
    """
    normal_title = normalize_title(title)
    seniority = _seniority_of(normal_title)
    department_name = _combine_departments(
        _department_of(normalize_title(department)), _department_of(normal_title))
    return ParsedTitle(seniority, SENIORITY_RANK[seniority], department_name)


def parse_title_columns(titles: Sequence, departments: Sequence) -> dict[str, np.ndarray]:
    """``parse_title`` of every (title, department) row, each distinct row once.

    Returns:
        ``title_seniority`` and ``title_department`` (object arrays of labels) and
        ``title_seniority_rank`` (float64, 0..7).
    """
    parsed = map_distinct(parse_title, titles, departments)
    ranks = np.fromiter((p.seniority_rank for p in parsed), dtype=np.float64, count=len(parsed))
    return {"title_seniority": object_array([p.seniority for p in parsed]),
            "title_seniority_rank": ranks,
            "title_department": object_array([p.department for p in parsed])}


def parse_titles(titles: pd.Series, departments: pd.Series | None = None) -> pd.DataFrame:
    """Parse a column of titles (and departments), each distinct value once.

    Args:
        titles: job titles; any string dtype, missing values allowed.
        departments: department texts aligned with ``titles`` (same index), or None.

    Returns:
        Frame on ``titles.index`` with ``title_seniority`` (ordered category),
        ``title_seniority_rank`` (int64, 0..7) and ``title_department`` (category).
    """
    if departments is None:
        departments = pd.Series(None, index=titles.index, dtype="str")
    elif not departments.index.equals(titles.index):
        raise ValueError("departments must have the same index as titles")
    parsed = parse_title_columns(titles.array, departments.array)
    return pd.DataFrame({
        "title_seniority": pd.Categorical(parsed["title_seniority"], dtype=SENIORITY_DTYPE),
        "title_seniority_rank": parsed["title_seniority_rank"].astype(np.int64),
        "title_department": pd.Categorical(parsed["title_department"], dtype=DEPARTMENT_DTYPE),
    }, index=titles.index)
