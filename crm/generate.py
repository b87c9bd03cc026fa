"""Sample CRM generator: a synthetic B2B CRM whose hidden ground truth is known exactly.

``generate_crm(GeneratorConfig(...))`` returns the five canonical tables (every one passes
``schema.validate_table``) and a ground-truth frame per lead (ICP fit, seniority, latent
interest, true 90-day SQL probability, duplicate-of). ``describe_ground_truth()`` documents the
generating story and its equations in Markdown; ``summarize_crm`` gives headline numbers.

How it stays deterministic and fast:

* Accounts and the lead population (firmographics, people, ground truth, created_at) are drawn
  in one vectorised pass each, from their own ``SeedSequence(seed, spawn_key=...)`` streams.
* Everything that happens to a lead afterwards (activities, calls, status, deals) is simulated
  per chunk of ``chunk_size`` leads. Randomness comes from one generator per block of
  ``RNG_BLOCK_LEADS`` leads and every draw is split by block, so the output does not depend on
  ``chunk_size``: it only bounds the working memory and sets how often ``progress`` is called.
* Internally times are float64 days since the Unix epoch (``inf`` = never happens); they become
  ``datetime64[us, UTC]`` only when the tables are assembled. Anything later than
  ``config.end`` is censored (missing, or the event is absent).
"""

from __future__ import annotations

import json
import logging
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, fields

import jaconv
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm import schema

logger = logging.getLogger(__name__)

Tables = dict[str, pd.DataFrame]

RNG_BLOCK_LEADS = 1_000
_DAY_US = 86_400_000_000
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_NEVER = np.inf

# ----------------------------------------------------------------------------------------------
# The story's parameters (rendered into describe_ground_truth, so the doc cannot drift)
# ----------------------------------------------------------------------------------------------

INDUSTRIES = ("software", "manufacturing", "finance", "retail", "healthcare", "logistics",
              "construction", "education", "professional_services", "media", "public_sector")
INDUSTRY_P = (0.18, 0.18, 0.10, 0.10, 0.08, 0.08, 0.07, 0.05, 0.08, 0.04, 0.04)
REVENUE_PER_EMPLOYEE_USD = (220e3, 280e3, 450e3, 180e3, 160e3, 200e3, 230e3, 90e3, 150e3,
                            170e3, 120e3)
COUNTRIES = ("JP", "US", "GB", "DE", "SG", "AU", "KR", "IN", "FR", "CA")
COUNTRY_P = (0.50, 0.14, 0.06, 0.06, 0.07, 0.05, 0.03, 0.03, 0.03, 0.03)
COUNTRY_REGION = ("JP", "NA", "EMEA", "EMEA", "APAC", "APAC", "APAC", "APAC", "EMEA", "NA")
UTC_OFFSET_HOURS = (9.0, -5.0, 0.0, 1.0, 8.0, 10.0, 9.0, 5.5, 1.0, -5.0)
EMPLOYEES_LOG_MEDIAN = math.log(150.0)
EMPLOYEES_LOG_SD = 1.5
ACCOUNT_EFFECT_SD = 0.4
LEAD_GROWTH_PER_YEAR = math.log(1.4)  # lead volume grows 40% a year

LEAD_SOURCE_P = (0.16, 0.14, 0.12, 0.15, 0.05, 0.10, 0.10, 0.05, 0.07, 0.03, 0.03)
SOURCE_EFFECT = (0.5, 0.2, 0.0, -0.5, 0.6, -0.1, 0.1, 0.3, -0.2, 0.4, -0.3)
SENIORITY_LEVELS = ("executive", "vp", "director", "manager", "team_lead", "staff")
SENIORITY_P = (0.06, 0.08, 0.14, 0.22, 0.18, 0.32)
AUTHORITY_P = (0.95, 0.85, 0.70, 0.45, 0.15, 0.05)
DEPARTMENTS = ("sales", "marketing", "it", "engineering", "finance", "hr", "operations",
               "corporate")
DEPARTMENT_P = (0.22, 0.20, 0.18, 0.12, 0.07, 0.05, 0.10, 0.06)
NO_ACCOUNT_SHARE = 0.04
TIMELINE_CHOICES = (1.0, 2.0, 3.0, 4.0, 6.0, 9.0, 12.0, 18.0, 24.0, 36.0)

ICP_INDUSTRIES = ("software", "manufacturing", "finance")
ICP_EMPLOYEES = (100, 5000)
ICP_REGIONS = ("JP", "APAC")
ICP_SENIORITY = ("executive", "vp", "director", "manager")

# latent interest z = Z_ICP*icp + SOURCE_EFFECT[source] + Z_DEPT*target_dept + a_account + eps
Z_ICP, Z_DEPT, Z_NOISE_SD = 0.3, 0.3, 0.8
BUDGET_COEF = (-0.3, 0.6, 0.5)        # intercept, per log10(employees/100), per z
NEED_COEF = (-0.4, 0.4, 0.8)          # intercept, icp, z
TIMELINE_COEF = (4.5, -0.45, -0.2, 0.6)  # median months, per z, icp, log-sd
# p_sql = bant_ok * sigmoid(SQL_B0 + SQL_ICP*icp + SQL_Z*z + SQL_INTERACTION*icp*softplus(z))
SQL_B0, SQL_ICP, SQL_Z, SQL_INTERACTION = -1.6, 0.1, 0.6, 0.4
SQL_HORIZON_DAYS = 90.0
MQL_THRESHOLD = 50.0
ENGAGEMENT_WEIGHTS = {
    "page_view": 1, "pricing_page_view": 8, "content_download": 10, "form_submit": 10,
    "demo_request": 40, "email_open": 1, "email_click": 3, "email_reply": 10,
    "webinar_register": 5, "webinar_attend": 15, "exhibition_visit": 10, "chat": 10,
    "meeting_booked": 40, "unsubscribe": -10,
}
HIGH_INTENT_TYPES = ("pricing_page_view", "demo_request", "email_reply", "meeting_booked")

USD_JPY = 150.0
PRODUCTS = ("Starter", "Professional", "Enterprise")
PRODUCT_BASE_USD = (6_000.0, 24_000.0, 90_000.0)
STAGES = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
LOSS_REASONS = ("price", "competitor", "no_budget", "no_decision", "timing", "product_fit",
                "lost_contact")
CLOSE_MEDIAN_DAYS = 55.0
WIN_COEF = (-1.3, 1.0, 0.35, -0.35)  # intercept, icp, z, per log(amount_usd / 24k)
MONTH_END_PUSH_P = (0.45, 0.35)  # won, lost
QUARTER_END_PUSH_P = 0.25

INSIDE_SALES_JP = ("佐藤 健", "鈴木 美咲", "田中 翔", "小林 結衣", "加藤 拓海", "山本 彩",
                   "吉田 直人", "松本 葵")
INSIDE_SALES_GLOBAL = ("Emily Clark", "Ryan Lee", "Sophie Martin", "Arjun Mehta")
REP_SKILL = (0.3, -0.2, 0.1, 0.0, -0.4, 0.2, 0.5, -0.1, 0.2, -0.3, 0.0, 0.4)
ACCOUNT_EXECUTIVES_JP = ("高橋 修", "伊藤 真理子", "渡辺 大地", "中村 里奈")
ACCOUNT_EXECUTIVES_GLOBAL = ("Daniel Brooks", "Mei Tan")

# ----------------------------------------------------------------------------------------------
# Word lists for names (no external data)
# ----------------------------------------------------------------------------------------------

_JP_FAMILY = (
    ("佐藤", "サトウ", "sato"), ("鈴木", "スズキ", "suzuki"), ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"), ("伊藤", "イトウ", "ito"), ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"), ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"), ("加藤", "カトウ", "kato"), ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"), ("佐々木", "ササキ", "sasaki"), ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"), ("井上", "イノウエ", "inoue"), ("木村", "キムラ", "kimura"),
    ("林", "ハヤシ", "hayashi"), ("斎藤", "サイトウ", "saito"), ("清水", "シミズ", "shimizu"),
    ("山崎", "ヤマザキ", "yamazaki"), ("森", "モリ", "mori"), ("池田", "イケダ", "ikeda"),
    ("橋本", "ハシモト", "hashimoto"), ("阿部", "アベ", "abe"), ("石川", "イシカワ", "ishikawa"),
    ("山下", "ヤマシタ", "yamashita"), ("中島", "ナカジマ", "nakajima"), ("石井", "イシイ", "ishii"),
    ("小川", "オガワ", "ogawa"), ("前田", "マエダ", "maeda"), ("岡田", "オカダ", "okada"),
    ("長谷川", "ハセガワ", "hasegawa"), ("藤田", "フジタ", "fujita"), ("後藤", "ゴトウ", "goto"),
    ("近藤", "コンドウ", "kondo"), ("村上", "ムラカミ", "murakami"), ("遠藤", "エンドウ", "endo"),
    ("青木", "アオキ", "aoki"), ("坂本", "サカモト", "sakamoto"),
)
_JP_GIVEN = (
    ("太郎", "タロウ", "taro"), ("健", "ケン", "ken"), ("翔太", "ショウタ", "shota"),
    ("大輔", "ダイスケ", "daisuke"), ("拓也", "タクヤ", "takuya"), ("直樹", "ナオキ", "naoki"),
    ("誠", "マコト", "makoto"), ("浩", "ヒロシ", "hiroshi"), ("学", "マナブ", "manabu"),
    ("剛", "ツヨシ", "tsuyoshi"), ("陽介", "ヨウスケ", "yosuke"), ("亮", "リョウ", "ryo"),
    ("蓮", "レン", "ren"), ("悠斗", "ユウト", "yuto"), ("美咲", "ミサキ", "misaki"),
    ("陽子", "ヨウコ", "yoko"), ("恵", "メグミ", "megumi"), ("由美", "ユミ", "yumi"),
    ("愛", "アイ", "ai"), ("彩", "アヤ", "aya"), ("優子", "ユウコ", "yuko"),
    ("真由美", "マユミ", "mayumi"), ("結衣", "ユイ", "yui"), ("花子", "ハナコ", "hanako"),
    ("麻衣", "マイ", "mai"), ("千尋", "チヒロ", "chihiro"), ("沙織", "サオリ", "saori"),
    ("奈々", "ナナ", "nana"), ("香織", "カオリ", "kaori"), ("和也", "カズヤ", "kazuya"),
)
# (given name, spelling variant)
_EN_GIVEN = (
    ("James", "Jim"), ("John", "Jon"), ("Robert", "Bob"), ("Michael", "Micheal"),
    ("David", "Dave"), ("William", "Will"), ("Richard", "Rick"), ("Thomas", "Tom"),
    ("Daniel", "Dan"), ("Matthew", "Mathew"), ("Christopher", "Chris"), ("Andrew", "Andy"),
    ("Steven", "Stephen"), ("Paul", "Paul"), ("Mark", "Marc"), ("Mary", "Marie"),
    ("Jennifer", "Jenifer"), ("Linda", "Lynda"), ("Elizabeth", "Liz"), ("Sarah", "Sara"),
    ("Emily", "Emilie"), ("Jessica", "Jess"), ("Laura", "Lora"), ("Emma", "Ema"),
    ("Olivia", "Olivia"), ("Sophie", "Sophia"), ("Hannah", "Hanna"), ("Wei", "Wei"),
    ("Priya", "Priya"), ("Lukas", "Lucas"), ("Anna", "Ana"), ("Min-jun", "Minjun"),
)
_EN_FAMILY = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams",
    "Nelson", "Schmidt", "Fischer", "Weber", "Tan", "Lim", "Lee", "Kim", "Park", "Singh",
    "Patel", "Dubois", "Campbell", "Murphy", "O'Brien", "Nguyen",
)
_JP_STEMS = (
    ("東洋", "toyo"), ("日本", "nihon"), ("大和", "yamato"), ("富士", "fuji"), ("中央", "chuo"),
    ("三和", "sanwa"), ("北斗", "hokuto"), ("桜", "sakura"), ("旭", "asahi"), ("新星", "shinsei"),
    ("未来", "mirai"), ("平和", "heiwa"), ("光", "hikari"), ("青葉", "aoba"), ("東京", "tokyo"),
    ("大阪", "osaka"), ("名古屋", "nagoya"), ("横浜", "yokohama"), ("福岡", "fukuoka"),
    ("札幌", "sapporo"), ("丸", "maru"), ("昭和", "showa"), ("協和", "kyowa"), ("千代田", "chiyoda"),
)
_JP_KATAKANA = (
    ("サンプル", "sample"), ("テック", "tech"), ("ネクスト", "next"), ("データ", "data"),
    ("クラウド", "cloud"), ("グローバル", "global"), ("アーク", "arc"), ("ブライト", "bright"),
    ("ライズ", "rise"), ("スマート", "smart"), ("リンク", "link"), ("ビジョン", "vision"),
    ("フロンティア", "frontier"), ("アクシス", "axis"), ("ノヴァ", "nova"), ("ソレイユ", "soleil"),
)
_JP_INDUSTRY_SUFFIX = (  # three per industry, in INDUSTRIES order
    (("システム", "system"), ("技研", "giken"), ("ソリューションズ", "solutions")),
    (("工業", "kogyo"), ("製作所", "seisakusho"), ("精機", "seiki")),
    (("証券", "shoken"), ("キャピタル", "capital"), ("ファイナンス", "finance")),
    (("商事", "shoji"), ("物産", "bussan"), ("リテール", "retail")),
    (("メディカル", "medical"), ("製薬", "seiyaku"), ("ヘルスケア", "healthcare")),
    (("運輸", "unyu"), ("物流", "butsuryu"), ("ロジスティクス", "logistics")),
    (("建設", "kensetsu"), ("工務店", "komuten"), ("設備", "setsubi")),
    (("教育", "kyoiku"), ("ラーニング", "learning"), ("アカデミー", "academy")),
    (("コンサルティング", "consulting"), ("総研", "soken"), ("パートナーズ", "partners")),
    (("メディア", "media"), ("出版", "shuppan"), ("広告", "kokoku")),
    (("サービス", "service"), ("振興", "shinko"), ("公社", "kosha")),
)
_EN_PREFIX = ("Blue", "North", "Silver", "Bright", "Red", "Green", "Sun", "Star", "Iron",
              "Clear", "Swift", "High", "Oak", "Pine", "Stone", "River", "Cloud", "Summit",
              "Apex", "Nova", "Vertex", "Pioneer", "Quantum", "Acme", "Zenith", "Atlas",
              "Orion", "Harbor", "Maple", "Cedar")
_EN_SUFFIX = ("", "", "peak", "wind", "field", "bridge", "gate", "way", "point", "line",
              "wave", "ridge")
_EN_INDUSTRY_WORD = (
    ("Software", "Analytics", "Systems"), ("Manufacturing", "Industries", "Precision"),
    ("Capital", "Financial", "Insurance"), ("Retail", "Stores", "Brands"),
    ("Health", "Medical", "Pharma"), ("Logistics", "Freight", "Transport"),
    ("Construction", "Builders", "Structures"), ("Learning", "Academy", "Education"),
    ("Consulting", "Advisory", "Group"), ("Media", "Studios", "Publishing"),
    ("Services", "Foundation", "Agency"),
)
_LEGAL_FORMS = (  # per country, COUNTRIES order (JP handled separately)
    ("株式会社", "株式会社", "有限会社"), ("Inc.", "LLC", "Corp."), ("Ltd", "PLC", "Ltd"),
    ("GmbH", "AG", "GmbH"), ("Pte. Ltd.", "Pte. Ltd.", "Ltd"), ("Pty Ltd", "Pty Ltd", "Ltd"),
    ("Co., Ltd.", "Inc.", "Co., Ltd."), ("Pvt. Ltd.", "Ltd", "Pvt. Ltd."), ("SAS", "SA", "SARL"),
    ("Inc.", "Ltd", "Corp."),
)
_TLDS = (".co.jp", ".com", ".co.uk", ".de", ".com.sg", ".com.au", ".co.kr", ".in", ".fr", ".ca")
_FREE_MAIL_JA = (("yahoo.co.jp", 0.45), ("gmail.com", 0.45), ("icloud.com", 0.10))
_FREE_MAIL_EN = (("gmail.com", 0.6), ("outlook.com", 0.2), ("hotmail.com", 0.1),
                 ("icloud.com", 0.1))
_JP_DEPT = ("営業", "マーケティング", "情報システム", "開発", "経理", "人事", "業務", "経営企画")
_EN_DEPT = ("Sales", "Marketing", "IT", "Engineering", "Finance", "HR", "Operations", "Strategy")
_EN_ROLE = ("Account Executive", "Marketing Specialist", "Systems Administrator",
            "Software Engineer", "Financial Analyst", "HR Specialist", "Operations Analyst",
            "Business Analyst")
_JUNK_DEPARTMENTS = ("n/a", "N/A", "-", "不明", "その他")
_PREFECTURES = (("東京都", 0.5), ("大阪府", 0.15), ("愛知県", 0.1), ("神奈川県", 0.08),
                ("福岡県", 0.07), ("北海道", 0.05), ("京都府", 0.05))
_EXHIBITIONS = ((1, 21, "Japan DX Week Winter"), (4, 8, "Sales Tech Expo Tokyo"),
                (6, 17, "AI & Data Expo Osaka"), (10, 7, "Marketing Week Autumn"),
                (11, 18, "Japan IT Week Autumn"))

CHANNELS = ("web", "ads", "email", "webinar", "event", "chat", "phone", "meeting")
_TYPE_CHANNEL = {
    "page_view": "web", "pricing_page_view": "web", "content_download": "web",
    "form_submit": "web", "demo_request": "web", "email_sent": "email", "email_open": "email",
    "email_click": "email", "email_reply": "email", "email_bounce": "email",
    "unsubscribe": "email", "webinar_register": "webinar", "webinar_attend": "webinar",
    "exhibition_visit": "event", "chat": "chat", "call_attempt": "phone",
    "call_connected": "phone", "meeting_booked": "meeting", "meeting_held": "meeting",
}
_T = {name: code for code, name in enumerate(schema.ACTIVITY_TYPES)}
_SRC = {name: code for code, name in enumerate(schema.LEAD_SOURCES)}
_STATUS = {name: code for code, name in enumerate(schema.LEAD_STATUSES)}


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------

DEFAULT_END = pd.Timestamp("2026-10-31T23:59:59Z")


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Same config (and package version) -> identical tables.

    Attributes:
        n_leads: lead records to create, near-duplicates included (1 .. 10,000,000).
        seed: root of every random stream (0 .. 2**32 - 1).
        end: the "now" of the CRM, timezone-aware; nothing happens after it. Fixed by default
            (not ``now()``) so the output is deterministic.
        months: leads are created over this many months before ``end`` (1 .. 120).
        duplicate_rate: share of leads that are near-duplicates of an earlier lead (0 .. 0.5).
        activities_per_lead: target mean events per lead; every activity rate scales with it.
        leads_per_account: n_accounts = max(50, round(n_leads / leads_per_account)).
        direct_opportunity_rate: deals without a lead (account-based), per lead (0 .. 1).
        chunk_size: leads simulated per chunk; a positive multiple of RNG_BLOCK_LEADS. Bounds
            working memory and sets how often ``progress`` is called; it never changes output.
    """

    n_leads: int = 5000
    seed: int = 42
    end: pd.Timestamp = DEFAULT_END
    months: int = 24
    duplicate_rate: float = 0.06
    activities_per_lead: float = 20.0
    leads_per_account: float = 4.0
    direct_opportunity_rate: float = 0.012
    chunk_size: int = 50_000

    def __post_init__(self) -> None:
        _check_range("n_leads", self.n_leads, 1, 10_000_000, integer=True)
        _check_range("seed", self.seed, 0, 2**32 - 1, integer=True)
        _check_range("months", self.months, 1, 120, integer=True)
        _check_range("duplicate_rate", self.duplicate_rate, 0.0, 0.5)
        _check_range("activities_per_lead", self.activities_per_lead, 0.1, 500.0)
        _check_range("leads_per_account", self.leads_per_account, 1.0, 1000.0)
        _check_range("direct_opportunity_rate", self.direct_opportunity_rate, 0.0, 1.0)
        _check_range("chunk_size", self.chunk_size, RNG_BLOCK_LEADS, 10_000_000, integer=True)
        if self.chunk_size % RNG_BLOCK_LEADS:
            raise ValueError(f"chunk_size must be a multiple of {RNG_BLOCK_LEADS}, "
                             f"got {self.chunk_size}")
        if not isinstance(self.end, pd.Timestamp):
            raise TypeError(f"end must be a pandas Timestamp, got {self.end!r}")
        if self.end.tz is None:
            raise ValueError(f"end must be timezone-aware (e.g. UTC), got {self.end!r}")

    @property
    def n_accounts(self) -> int:
        """Number of accounts generated."""
        return max(50, round(self.n_leads / self.leads_per_account))


def _check_range(name: str, value: object, low: float, high: float,
                 integer: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (low <= value <= high):
        raise ValueError(f"{name} must be between {low} and {high}, got {value!r}")


def generate_crm(
    config: GeneratorConfig, progress: Callable[[int], None] | None = None
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Generate a sample CRM and its hidden ground truth.

    Args:
        config: what to generate (see ``GeneratorConfig``).
        progress: called with the number of leads simulated so far, once per chunk.

    Returns:
        (tables, ground_truth): the five canonical tables keyed by name, and one row per lead
        with lead_id, icp_fit, seniority_level, latent_interest, p_sql, duplicate_of.
    """
    cal = _build_calendar(config)
    vocab = _Vocabulary.build(cal)
    accounts = _generate_accounts(config, _Streams.single(config.seed, 0))
    people = _generate_people(config, cal, accounts, vocab, _Streams.single(config.seed, 1))
    ids = _Ids.build(config.n_leads, config.n_accounts)
    fates = _Fates.empty(config.n_leads)
    activities: list[pd.DataFrame] = []
    deals: list[_Deals] = []
    for start in range(0, config.n_leads, config.chunk_size):
        stop = min(start + config.chunk_size, config.n_leads)
        chunk = _simulate_chunk(config, cal, vocab, accounts, people, fates, start, stop)
        offset = sum(len(frame) for frame in activities)
        activities.append(_activities_frame(chunk.events, people, ids, vocab, cal, start,
                                            offset, chunk.streams))
        deals.append(chunk.deals)
        logger.debug("simulated leads %d-%d: %d events", start, stop, len(activities[-1]))
        if progress is not None:
            progress(stop)
    deals.append(_simulate_direct_deals(config, cal, accounts))
    opportunities, history = _deal_tables(deals, ids, cal.end)
    tables = {
        "accounts": _accounts_frame(accounts, ids),
        "leads": _leads_frame(people, fates, ids, vocab, cal.end),
        "activities": pd.concat(activities, ignore_index=True),
        "opportunities": opportunities,
        "opportunity_stage_history": history,
    }
    return tables, _ground_truth_frame(people, ids)


# ----------------------------------------------------------------------------------------------
# Random streams split by lead block
# ----------------------------------------------------------------------------------------------

class _Streams:
    """Random draws whose values depend only on (seed, key, block of the owning lead).

    Every draw takes ``owner``: the (chunk-local, non-decreasing) lead index of each value.
    The draw is split at block boundaries and each part comes from that block's generator, so
    grouping blocks into chunks differently gives the same numbers.
    """

    def __init__(self, rngs: list[np.random.Generator], block: int):
        self._rngs = rngs
        self._bounds = np.arange(1, len(rngs), dtype=np.int64) * block

    @classmethod
    def single(cls, seed: int, key: int) -> _Streams:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))
        return cls([rng], block=1)

    @classmethod
    def for_chunk(cls, seed: int, start: int, stop: int) -> _Streams:
        first, last = start // RNG_BLOCK_LEADS, -(-stop // RNG_BLOCK_LEADS)
        rngs = [np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, b)))
                for b in range(first, last)]
        return cls(rngs, RNG_BLOCK_LEADS)

    def _draw(self, method: str, owner: np.ndarray, *params: object) -> np.ndarray:
        if len(self._rngs) == 1:
            return getattr(self._rngs[0], method)(*params, size=len(owner))
        if len(owner) > 1 and np.any(owner[1:] < owner[:-1]):
            raise RuntimeError("internal error: random draw owners are not sorted by lead")
        cuts = np.searchsorted(owner, self._bounds, side="left")
        edges = np.concatenate([[0], cuts, [len(owner)]])
        parts = []
        for rng, lo, hi in zip(self._rngs, edges[:-1], edges[1:]):
            args = [p[lo:hi] if isinstance(p, np.ndarray) else p for p in params]
            parts.append(getattr(rng, method)(*args, size=hi - lo))
        return np.concatenate(parts)

    def u(self, owner: np.ndarray) -> np.ndarray:
        return self._draw("random", owner)

    def uniform(self, owner: np.ndarray, low: object, high: object) -> np.ndarray:
        return low + (high - low) * self.u(owner)

    def bern(self, owner: np.ndarray, p: object) -> np.ndarray:
        return self.u(owner) < p

    def normal(self, owner: np.ndarray, loc: object = 0.0, scale: object = 1.0) -> np.ndarray:
        return loc + scale * self._draw("standard_normal", owner)

    def exp(self, owner: np.ndarray, scale: object) -> np.ndarray:
        return scale * self._draw("standard_exponential", owner)

    def poisson(self, owner: np.ndarray, lam: object) -> np.ndarray:
        return self._draw("poisson", owner, lam)

    def gamma(self, owner: np.ndarray, shape: object, scale: object = 1.0) -> np.ndarray:
        return scale * self._draw("standard_gamma", owner, shape)

    def beta(self, owner: np.ndarray, a: object, b: object) -> np.ndarray:
        return self._draw("beta", owner, a, b)

    def cat(self, owner: np.ndarray, probs: tuple[float, ...] | np.ndarray) -> np.ndarray:
        """Categorical draw: index into ``probs`` (normalised)."""
        cum = np.cumsum(probs, dtype=float)
        idx = np.searchsorted(cum / cum[-1], self.u(owner), side="right")
        return np.minimum(idx, len(cum) - 1)

    def pick(self, owner: np.ndarray, n: object) -> np.ndarray:
        """Uniform integer in [0, n) per value (n may vary per value)."""
        return np.minimum(np.floor(self.u(owner) * n), np.maximum(n, 1) - 1).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Time helpers (float days since the Unix epoch)
# ----------------------------------------------------------------------------------------------

def _to_days(ts: pd.Timestamp) -> float:
    return float((ts.tz_convert("UTC") - _EPOCH) / pd.Timedelta(days=1))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday=0 .. Sunday=6 of (UTC or local) day numbers."""
    return (np.floor(days).astype(np.int64) + 3) % 7


def _month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of finite day values."""
    return np.floor(days).astype(np.int64).astype("M8[D]").astype("M8[M]").astype(np.int64)


def _month_last_day(days: np.ndarray, months_ahead: object = 0) -> np.ndarray:
    """00:00 UTC of the last day of the month ``months_ahead`` after the month of ``days``."""
    month = _month_index(days) + np.asarray(months_ahead, dtype=np.int64)
    first_next = (month + 1).astype("M8[M]").astype("M8[D]").astype(np.int64)
    return first_next.astype(float) - 1.0


def _at_local_hour(t: np.ndarray, tz_hours: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Move each time to ``hour`` (local) of its local calendar day."""
    local_day = np.floor(t + tz_hours / 24.0)
    return local_day + (hour - tz_hours) / 24.0


def _daytime_hours(st: _Streams, owner: np.ndarray) -> np.ndarray:
    """Local hour of web activity: 85% office hours N(13.5, 3), 15% any time."""
    office = np.clip(st.normal(owner, 13.5, 3.0), 6.0, 23.5)
    return np.where(st.bern(owner, 0.85), office, st.uniform(owner, 0.0, 23.99))


def _business_time(st: _Streams, owner: np.ndarray, t: np.ndarray,
                   tz: np.ndarray) -> np.ndarray:
    """Sales touches: weekdays 9:30-18:00 local; weekend touches move to Monday."""
    hour = st.uniform(owner, 9.5, 18.0)
    moved = _at_local_hour(t, tz, hour)
    wd = _weekday(moved + tz / 24.0)
    return moved + np.where(wd == 5, 2.0, np.where(wd == 6, 1.0, 0.0))


@dataclass(frozen=True)
class _Calendar:
    start: float
    end: float
    days: np.ndarray            # day numbers start..end
    day_weight: np.ndarray      # lead-creation weight per day (growth x weekday x holidays)
    webinars: np.ndarray        # webinar start times
    exhibitions: np.ndarray     # first day (00:00 UTC) of each 3-day exhibition
    exhibition_names: tuple[str, ...]
    first_month: int            # month index of start - 1


def _build_calendar(config: GeneratorConfig) -> _Calendar:
    end_ts = config.end.tz_convert("UTC")
    start, end = _to_days(end_ts - pd.DateOffset(months=config.months)), _to_days(end_ts)
    days = np.arange(math.floor(start), math.floor(end) + 1, dtype=float)
    weekday_w = np.array([1.1, 1.15, 1.15, 1.1, 1.0, 0.25, 0.15])[_weekday(days)]
    growth = np.exp(LEAD_GROWTH_PER_YEAR * (days - end) / 365.25)
    weight = growth * weekday_w * np.where(_is_holiday(days), 0.3, 1.0)
    first_thursday = days[0] + (3 - _weekday(days[:1])[0]) % 7
    webinars = np.arange(first_thursday, end, 14.0) + 7.0 / 24.0  # 16:00 JST
    webinars = webinars[(webinars >= start + 10.0) & (webinars <= end)]
    exhibitions, names = _exhibition_days(end_ts.year - config.months // 12 - 1, end_ts.year,
                                          start, end)
    return _Calendar(start, end, days, weight, webinars, exhibitions, names,
                     int(_month_index(np.array([start]))[0]) - 1)



def _is_holiday(days: np.ndarray) -> np.ndarray:
    """Japanese holiday seasons: New Year (Dec 29-Jan 3), Golden Week, Obon."""
    d = days.astype(np.int64).astype("M8[D]")
    month = d.astype("M8[M]").astype(np.int64) % 12 + 1
    dom = (d - d.astype("M8[M]").astype("M8[D]")).astype(np.int64) + 1
    new_year = ((month == 12) & (dom >= 29)) | ((month == 1) & (dom <= 3))
    golden = ((month == 4) & (dom >= 29)) | ((month == 5) & (dom <= 5))
    obon = (month == 8) & (dom >= 13) & (dom <= 16)
    return new_year | golden | obon


def _exhibition_days(first_year: int, last_year: int, start: float,
                     end: float) -> tuple[np.ndarray, tuple[str, ...]]:
    days, names = [], []
    for year in range(first_year, last_year + 1):
        for month, day, name in _EXHIBITIONS:
            d = _to_days(pd.Timestamp(year=year, month=month, day=day, tz="UTC"))
            if start <= d and d + 3.0 <= end:
                days.append(d)
                names.append(f"{name} {year}")
    return np.array(days, dtype=float), tuple(names)


# ----------------------------------------------------------------------------------------------
# Vocabulary of repeated strings (activity properties, lead attributes)
# ----------------------------------------------------------------------------------------------

_PAGE_PATHS = ("/", "/product", "/features", "/case-studies", "/blog/lead-scoring",
               "/blog/inside-sales", "/integrations", "/security", "/about", "/careers")
_ASSETS = ("whitepaper_lead_scoring", "ebook_inside_sales", "case_study_manufacturing",
           "checklist_bant", "report_pipeline_benchmark")


@dataclass(frozen=True)
class _Vocabulary:
    """Every JSON text used in ``properties`` / ``attributes``; events hold codes into it."""

    texts: tuple[str, ...]
    base: dict[str, int]
    sizes: dict[str, int]
    first_month: int  # month index of the first nurture campaign

    @classmethod
    def build(cls, cal: _Calendar) -> _Vocabulary:
        n_months = int(_month_index(np.array([cal.end]))[0]) - cal.first_month + 2
        families: dict[str, list[dict[str, object]]] = {
            "page": [{"path": p} for p in _PAGE_PATHS],
            "pricing": [{"path": "/pricing"}, {"path": "/pricing", "plan": "enterprise"}],
            "asset": [{"asset": a} for a in _ASSETS],
            "form": [{"form": f} for f in ("contact", "download", "newsletter")],
            "demo": [{"form": "demo"}],
            "campaign": [{"campaign": _campaign_name(cal.first_month + m)}
                         for m in range(n_months)],
            "sales_email": [{"campaign": "inside_sales"}],
            "bounce": [{"reason": "hard"}, {"reason": "soft"}],
            "webinar": [{"webinar": _webinar_name(t)} for t in cal.webinars] or [{}],
            "exhibition": [{"exhibition": n} for n in cal.exhibition_names] or [{}],
            "chat": [{"topic": t} for t in ("pricing", "features", "support", "integration")],
            "call_result": [{"result": r} for r in ("no_answer", "voicemail", "busy")],
            "call_minutes": [{"duration_min": m} for m in range(1, 61)],
            "meeting": [{"format": "online"}, {"format": "onsite"}],
            "prefecture": [{"prefecture": p} for p, _ in _PREFECTURES],
            "utm": [{"utm_source": s, "utm_medium": "cpc"} for s in ("google", "linkedin",
                                                                      "facebook")],
            "opt_in": [{"newsletter_opt_in": True}, {"newsletter_opt_in": False}],
        }
        texts: list[str] = []
        base, sizes = {}, {}
        for name, items in families.items():
            base[name], sizes[name] = len(texts), len(items)
            texts.extend(json.dumps(item, ensure_ascii=False) for item in items)
        return cls(tuple(texts), base, sizes, cal.first_month)

    def code(self, family: str, index: object = 0) -> np.ndarray:
        idx = np.clip(np.asarray(index, dtype=np.int64), 0, self.sizes[family] - 1)
        return self.base[family] + idx


def _campaign_name(month_index: int) -> str:
    year, month = divmod(month_index, 12)
    return f"nurture_{1970 + year}_{month + 1:02d}"


def _webinar_name(t: float) -> str:
    return "WB-" + str(np.datetime64(math.floor(t), "D"))


# ----------------------------------------------------------------------------------------------
# Accounts
# ----------------------------------------------------------------------------------------------

@dataclass
class _Accounts:
    country: np.ndarray
    industry: np.ndarray
    employees: np.ndarray       # true headcount (the CRM may show it missing)
    revenue: np.ndarray
    founded: np.ndarray
    effect: np.ndarray          # hidden account-level interest
    weight: np.ndarray          # how many leads it attracts
    name: pa.Array
    domain: pa.Array            # true domain (used by e-mails)
    shown: dict[str, np.ndarray]  # missing-value masks of the CRM view


def _generate_accounts(config: GeneratorConfig, st: _Streams) -> _Accounts:
    n = config.n_accounts
    idx = np.arange(n)
    country = st.cat(idx, COUNTRY_P)
    industry = st.cat(idx, INDUSTRY_P)
    employees = np.clip(np.round(np.exp(st.normal(idx, EMPLOYEES_LOG_MEDIAN,
                                                  EMPLOYEES_LOG_SD))), 2, 300_000)
    revenue = employees * np.take(REVENUE_PER_EMPLOYEE_USD, industry) * np.exp(
        st.normal(idx, 0.0, 0.4))
    age_scale = (6.0 + 4.0 * np.log10(employees)) * np.where(country == 0, 1.4, 1.0)
    founded = config.end.year - np.minimum(np.round(st.gamma(idx, 2.0, age_scale)), 150)
    effect = st.normal(idx, 0.0, ACCOUNT_EFFECT_SD)
    weight = employees ** 0.35 * np.exp(st.normal(idx, 0.0, 0.8))
    name, domain = _render_account_names(st, idx, country, industry)
    shown = {"domain": st.bern(idx, 0.97), "industry": st.bern(idx, 0.96),
             "employees": st.bern(idx, 0.92), "annual_revenue": st.bern(idx, 0.80),
             "founded_year": st.bern(idx, 0.88)}
    return _Accounts(country, industry, employees, np.round(revenue, -3), founded, effect,
                     weight, name, domain, shown)


def _pa(items: object) -> pa.Array:
    """A small vocabulary as a pyarrow string array."""
    return items if isinstance(items, pa.Array) else pa.array(list(items), pa.string())


def _take(items: object, index: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """``items[index]`` as pyarrow strings (null where ``missing``)."""
    index = pa.array(np.asarray(index, dtype=np.int64), mask=missing)
    return pc.take(_pa(items), index)


def _cat(*parts: object) -> pa.Array:
    """Element-wise concatenation of string arrays and scalars."""
    return pc.binary_join_element_wise(*parts, "")


def _where(mask: np.ndarray, yes: object, no: object) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), yes, no)


def _choose(index: np.ndarray, *options: object) -> pa.Array:
    return pc.choose(pa.array(np.asarray(index, dtype=np.int8)), *options)


def _null_where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    return _where(mask, pa.scalar(None, pa.string()), values)


def _occurrence_rank(values: pa.Array) -> np.ndarray:
    """0 for the first occurrence of each value, 1 for the second, ... (in array order)."""
    codes = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    new_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(codes)), 0))
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(codes)) - group_start
    return rank


def _make_unique(stem: pa.Array, suffix: pa.Array) -> pa.Array:
    """stem + suffix, with 2, 3, ... appended to the stem of repeated values."""
    rank = _occurrence_rank(_cat(stem, suffix))
    counter = pa.array(rank + 1).cast(pa.string())
    return _cat(_where(rank > 0, _cat(stem, counter), stem), suffix)


def _render_account_names(st: _Streams, idx: np.ndarray, country: np.ndarray,
                          industry: np.ndarray) -> tuple[pa.Array, pa.Array]:
    jp_name, jp_dom = _render_jp_companies(st, idx, industry)
    en_name, en_dom = _render_en_companies(st, idx, country, industry)
    japan = country == 0
    tld = _where(japan & st.bern(idx, 0.2), ".jp", _take(_TLDS, country))
    return _where(japan, jp_name, en_name), _make_unique(_where(japan, jp_dom, en_dom), tld)


def _render_jp_companies(st: _Streams, idx: np.ndarray,
                         industry: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """前株/後株 names from a kanji stem, a katakana word and an industry suffix."""
    pattern, s, k, v = (st.pick(idx, 3), st.pick(idx, len(_JP_STEMS)),
                        st.pick(idx, len(_JP_KATAKANA)), st.pick(idx, 3))
    legal = st.cat(idx, (0.40, 0.55, 0.05))
    suffix = industry * 3 + v
    suffixes = [s for row in _JP_INDUSTRY_SUFFIX for s in row]
    parts = []
    for col in (0, 1):
        first = _where(pattern == 1, "", _take([w[col] for w in _JP_STEMS], s))
        middle = _where(pattern == 0, "", _take([w[col] for w in _JP_KATAKANA], k))
        parts.append((first, middle, _take([w[col] for w in suffixes], suffix)))
    core = _cat(*parts[0])
    name = _choose(legal, _cat("株式会社", core), _cat(core, "株式会社"), _cat("有限会社", core))
    first_r, middle_r, suffix_r = parts[1]
    domain = _where(st.bern(idx, 0.5), _cat(first_r, middle_r, suffix_r),
                    _cat(first_r, middle_r, "-", suffix_r))
    return name, domain


def _render_en_companies(st: _Streams, idx: np.ndarray, country: np.ndarray,
                         industry: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """`<Prefix><suffix> <Industry word> <legal form>`, e.g. Bluepeak Analytics Inc."""
    compound = _cat(_take(_EN_PREFIX, st.pick(idx, len(_EN_PREFIX))),
                    _take(_EN_SUFFIX, st.pick(idx, len(_EN_SUFFIX))))
    word = _take([w for row in _EN_INDUSTRY_WORD for w in row], industry * 3 + st.pick(idx, 3))
    legal = _take([f for row in _LEGAL_FORMS for f in row], country * 3 + st.pick(idx, 3))
    name = _cat(compound, " ", word, " ", legal)
    domain = _where(st.bern(idx, 0.5), _cat(compound, "-", word), compound)
    return name, pc.utf8_lower(domain)


# ----------------------------------------------------------------------------------------------
# The lead population and its ground truth (one pass over all leads)
# ----------------------------------------------------------------------------------------------

@dataclass
class _People:
    created: np.ndarray
    source: np.ndarray
    source_time: np.ndarray     # webinar start of webinar-sourced leads, else inf
    account: np.ndarray         # -1: no account (free-mail individual)
    tz: np.ndarray
    ja: np.ndarray              # Japanese person
    seniority: np.ndarray
    dept: np.ndarray
    owner: np.ndarray           # index into the inside-sales pool
    icp: np.ndarray
    z: np.ndarray
    budget: np.ndarray
    authority: np.ndarray
    need: np.ndarray
    timeline: np.ndarray
    bant_ok: np.ndarray
    p_sql: np.ndarray
    sql90: np.ndarray
    sql_delay: np.ndarray
    bounce: np.ndarray          # e-mail address bounces
    blank_owner: np.ndarray     # owner left empty if the lead is never worked
    dup_of: np.ndarray          # -1: original
    attributes: np.ndarray      # vocabulary code of leads.attributes (-1: missing)
    text: dict[str, pa.Array]   # rendered CRM strings (null = missing)

    def take(self, start: int, stop: int) -> _People:
        parts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "text"}
        return _People(**{k: v[start:stop] for k, v in parts.items()},
                       text={k: v[start:stop] for k, v in self.text.items()})


def _generate_people(config: GeneratorConfig, cal: _Calendar, accounts: _Accounts,
                     vocab: _Vocabulary, st: _Streams) -> _People:
    n = config.n_leads
    idx = np.arange(n)
    account, source, created, source_time = _draw_arrivals(config, cal, accounts, st, idx)
    has_acc = account >= 0
    country = np.where(has_acc, accounts.country[np.maximum(account, 0)], -1)
    ja = np.where(has_acc, country == 0, st.bern(idx, 0.6)) ^ st.bern(idx, 0.04)
    tz = np.where(country >= 0, np.take(UTC_OFFSET_HOURS, np.maximum(country, 0)),
                  np.where(ja, 9.0, -5.0))
    person = _draw_persons(st, idx, accounts, account, ja)
    dup_of = _draw_duplicates(config, st, created)
    person = {key: _copy_from_original(dup_of, values) for key, values in person.items()}
    account, ja, tz = (_copy_from_original(dup_of, v) for v in (account, ja, tz))
    truth = _draw_ground_truth(st, idx, accounts, account, source, person, dup_of)
    owner = np.where(ja, st.pick(idx, len(INSIDE_SALES_JP)),
                     len(INSIDE_SALES_JP) + st.pick(idx, len(INSIDE_SALES_GLOBAL)))
    text = _render_people(st, idx, accounts, account, ja, person, dup_of)
    attributes = _lead_attribute_codes(st, idx, ja, source, vocab)
    return _People(created=created, source=source, source_time=source_time, account=account,
                   tz=tz, ja=ja, seniority=person["seniority"], dept=person["dept"],
                   owner=owner, bounce=st.bern(idx, 0.02), blank_owner=st.bern(idx, 0.03),
                   dup_of=dup_of, attributes=attributes, text=text, **truth)


def _copy_from_original(dup_of: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A duplicate is the same person: take the original's value."""
    return np.where(dup_of >= 0, values[np.maximum(dup_of, 0)], values)


def _draw_arrivals(config: GeneratorConfig, cal: _Calendar, accounts: _Accounts, st: _Streams,
                   idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """Account, source and created_at per lead; returned sorted by created_at."""
    cum = np.cumsum(accounts.weight)
    account = np.searchsorted(cum / cum[-1], st.u(idx), side="right")
    account = np.where(st.bern(idx, NO_ACCOUNT_SHARE), -1, np.minimum(account, len(cum) - 1))
    tz = np.where(account >= 0,
                  np.take(UTC_OFFSET_HOURS, accounts.country[np.maximum(account, 0)]), 9.0)
    source = st.cat(idx, LEAD_SOURCE_P)
    created, source_time = _draw_created(cal, st, idx, source, tz)
    order = np.argsort(created, kind="stable")
    return account[order], source[order], created[order], source_time[order]


def _draw_created(cal: _Calendar, st: _Streams, idx: np.ndarray, source: np.ndarray,
                  tz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Creation time: weighted calendar days; webinar and exhibition leads at their events."""
    cum = np.cumsum(cal.day_weight)
    day = cal.days[np.minimum(np.searchsorted(cum / cum[-1], st.u(idx), side="right"),
                              len(cum) - 1)]
    general = _at_local_hour(day, tz, _daytime_hours(st, idx))
    webinar = _pick_weighted_event(st, idx, cal.webinars, cal)
    registered = webinar - 10.0 * st.beta(idx, 1.0, 2.0)
    exhibition = _pick_weighted_event(st, idx, cal.exhibitions, cal)
    at_booth = exhibition + st.pick(idx, 3) + st.uniform(idx, 1.0 / 24, 8.0 / 24)
    created = np.where(source == _SRC["webinar"], registered, general)
    created = np.where(source == _SRC["exhibition"], at_booth, created)
    created = np.clip(created, cal.start, cal.end - 1e-6)
    source_time = np.where(source == _SRC["webinar"], webinar, _NEVER)
    return created, source_time


def _pick_weighted_event(st: _Streams, idx: np.ndarray, events: np.ndarray,
                         cal: _Calendar) -> np.ndarray:
    """One of ``events`` per lead, weighted by lead growth (or general days if none)."""
    if len(events) == 0:
        return cal.start + st.u(idx) * (cal.end - cal.start - 3.0)
    w = np.exp(LEAD_GROWTH_PER_YEAR * (events - cal.end) / 365.25)
    pick = np.searchsorted(np.cumsum(w) / w.sum(), st.u(idx), side="right")
    return events[np.minimum(pick, len(events) - 1)]


def _draw_persons(st: _Streams, idx: np.ndarray, accounts: _Accounts, account: np.ndarray,
                  ja: np.ndarray) -> dict[str, np.ndarray]:
    seniority = st.cat(idx, SENIORITY_P)
    small = np.where(account >= 0, accounts.employees[np.maximum(account, 0)], 5) < 50
    seniority = np.where(small & st.bern(idx, 0.25), 0, seniority)
    dept = np.where(seniority == 0, DEPARTMENTS.index("corporate"), st.cat(idx, DEPARTMENT_P))
    given = np.where(ja, st.pick(idx, len(_JP_GIVEN)), st.pick(idx, len(_EN_GIVEN)))
    family = np.where(ja, st.pick(idx, len(_JP_FAMILY)), st.pick(idx, len(_EN_FAMILY)))
    return {"seniority": seniority, "dept": dept, "given": given, "family": family,
            "style": st.pick(idx, 1000)}


def _draw_duplicates(config: GeneratorConfig, st: _Streams,
                     created: np.ndarray) -> np.ndarray:
    """duplicate_of per lead (-1: an original). A duplicate re-enters an original lead that was
    created about Exp(60 days) before it (any earlier original if none is that old)."""
    n = len(created)
    n_dup = min(round(config.duplicate_rate * n), max(n - 1, 0) // 2)
    dup_of = np.full(n, -1, dtype=np.int64)
    if n_dup == 0:
        return dup_of
    dups = np.sort(1 + np.argsort(st.u(np.arange(n - 1)), kind="stable")[:n_dup])
    is_dup = np.zeros(n, dtype=bool)
    is_dup[dups] = True
    originals = np.flatnonzero(~is_dup)
    k = np.arange(n_dup)
    earlier = np.searchsorted(originals, dups)  # originals listed before each duplicate (>= 1)
    target = created[dups] - st.exp(k, 60.0)
    pos = np.searchsorted(created[originals], target, side="right") - 1
    pos = np.where(pos >= 0, pos, st.pick(k, earlier))
    dup_of[dups] = originals[np.minimum(pos, earlier - 1)]
    return dup_of


def _draw_ground_truth(st: _Streams, idx: np.ndarray, accounts: _Accounts,
                       account: np.ndarray, source: np.ndarray, person: dict[str, np.ndarray],
                       dup_of: np.ndarray) -> dict[str, np.ndarray]:
    """ICP fit, latent interest, true BANT, p_sql and the 90-day SQL draw (documented)."""
    acc = np.maximum(account, 0)
    has = account >= 0
    emp = np.where(has, accounts.employees[acc], 10.0)
    icp = has & _icp_rule(accounts.industry[acc], emp,
                          np.take(COUNTRY_REGION, accounts.country[acc]), person["seniority"])
    target_dept = np.isin(person["dept"], [0, 1, 2])
    z = (Z_ICP * icp + np.take(SOURCE_EFFECT, source) + Z_DEPT * target_dept
         + np.where(has, accounts.effect[acc], 0.0) + st.normal(idx, 0.0, Z_NOISE_SD))
    z = _copy_from_original(dup_of, z) - 0.3 * (dup_of >= 0)
    authority = st.bern(idx, np.take(AUTHORITY_P, person["seniority"]))
    b0, b_size, b_z = BUDGET_COEF
    budget = st.bern(idx, _sigmoid(b0 + b_size * np.log10(emp / 100.0) + b_z * z))
    n0, n_icp, n_z = NEED_COEF
    need = st.bern(idx, _sigmoid(n0 + n_icp * icp + n_z * z))
    t_median, t_z, t_icp, t_sd = TIMELINE_COEF
    raw_t = np.exp(st.normal(idx, math.log(t_median) + t_z * z + t_icp * icp, t_sd))
    timeline = np.array(TIMELINE_CHOICES)[np.abs(
        np.log(raw_t)[:, None] - np.log(TIMELINE_CHOICES)[None, :]).argmin(axis=1)]
    # a duplicate is the same person: same buying situation as the original
    budget, authority, need, timeline = (_copy_from_original(dup_of, v)
                                         for v in (budget, authority, need, timeline))
    bant_ok = (timeline <= 3.0) & (budget.astype(int) + authority + need >= 2)
    p_sql = bant_ok * _sigmoid(SQL_B0 + SQL_ICP * icp + SQL_Z * z
                               + SQL_INTERACTION * icp * _softplus(z))
    b_speed = np.where(np.isin(source, [_SRC["inbound_form"], _SRC["chat"],
                                        _SRC["referral"]]), 6.0, 3.5)
    return {"icp": icp, "z": z, "budget": budget, "authority": authority, "need": need,
            "timeline": timeline, "bant_ok": bant_ok, "p_sql": p_sql,
            "sql90": st.bern(idx, p_sql),
            "sql_delay": SQL_HORIZON_DAYS * np.maximum(st.beta(idx, 1.5, b_speed), 1e-3)}


def icp_fit(industry: object, employees: object, region: object,
            seniority: object) -> np.ndarray:
    """The generator's hidden ICP rule, exactly, on plain values.

    Args:
        industry, employees, region, seniority: equal-length array-likes of industry labels,
            headcounts, sales regions and seniority levels (``SENIORITY_LEVELS``). A missing
            value never fits.

    Returns:
        A boolean numpy array: industry in ICP_INDUSTRIES, ICP_EMPLOYEES[0] <= employees <=
        ICP_EMPLOYEES[1], region in ICP_REGIONS and seniority in ICP_SENIORITY.
    """
    values = {"industry": industry, "employees": employees, "region": region,
              "seniority": seniority}
    lengths = {name: len(v) for name, v in values.items()}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        raise ValueError(f"icp_fit needs equal-length inputs, got lengths {lengths}")
    emp = pd.to_numeric(pd.Series(employees), errors="coerce").to_numpy(dtype=float)
    text = {k: pd.Series(values[k], dtype="str") for k in ("industry", "region", "seniority")}
    return (text["industry"].isin(ICP_INDUSTRIES).to_numpy()
            & (emp >= ICP_EMPLOYEES[0]) & (emp <= ICP_EMPLOYEES[1])
            & text["region"].isin(ICP_REGIONS).to_numpy()
            & text["seniority"].isin(ICP_SENIORITY).to_numpy())


def _icp_rule(industry: np.ndarray, employees: np.ndarray, region: np.ndarray,
              seniority: np.ndarray) -> np.ndarray:
    """``icp_fit`` on codes (industry and seniority indices, region labels)."""
    return (np.isin(industry, [INDUSTRIES.index(i) for i in ICP_INDUSTRIES])
            & (employees >= ICP_EMPLOYEES[0]) & (employees <= ICP_EMPLOYEES[1])
            & np.isin(region, ICP_REGIONS)
            & np.isin(seniority, [SENIORITY_LEVELS.index(s) for s in ICP_SENIORITY]))


# ----------------------------------------------------------------------------------------------
# Rendering people (names, e-mails, titles, departments) with duplicates' variations
# ----------------------------------------------------------------------------------------------

def _render_people(st: _Streams, idx: np.ndarray, accounts: _Accounts, account: np.ndarray,
                   ja: np.ndarray, person: dict[str, np.ndarray],
                   dup_of: np.ndarray) -> dict[str, pa.Array]:
    """Name, e-mail, job title and department as typed (null = missing)."""
    names = _render_names(st, idx, ja, person)
    user, host = _render_email_parts(st, idx, accounts, account, ja, person, names)
    title, dept = _render_titles(st, idx, ja, person)
    dup = dup_of >= 0
    orig = np.maximum(dup_of, 0)
    variant = _choose(st.pick(idx, 4), names["alt_spacing"], names["kana"], names["half_width"],
                      names["latin"])
    email = _where(dup, _vary_email(st, idx, user.take(orig), host.take(orig), names, ja),
                   _cat(user, "@", host))
    same_title = dup & st.bern(idx, 0.5)
    return {"name": _where(dup, variant, names["name"]),
            "email": _null_where(st.bern(idx, 0.02), email),
            "job_title": _where(same_title, title.take(pa.array(orig)), title),
            "department": dept}


def _name_lists() -> dict[str, pa.Array]:
    """Every name form (kanji, kana, half-width kana, romaji, English, full-width) by index."""
    half = lambda s: jaconv.z2h(s, kana=True)
    wide = lambda s: jaconv.h2z(s, kana=False, ascii=True)
    return {
        "jf": _pa(r[0] for r in _JP_FAMILY), "jg": _pa(r[0] for r in _JP_GIVEN),
        "jf_kana": _pa(r[1] for r in _JP_FAMILY), "jg_kana": _pa(r[1] for r in _JP_GIVEN),
        "jf_half": _pa(half(r[1]) for r in _JP_FAMILY),
        "jg_half": _pa(half(r[1]) for r in _JP_GIVEN),
        "jf_roman": _pa(r[2] for r in _JP_FAMILY), "jg_roman": _pa(r[2] for r in _JP_GIVEN),
        "jf_latin": _pa(r[2].capitalize() for r in _JP_FAMILY),
        "jg_latin": _pa(r[2].capitalize() for r in _JP_GIVEN),
        "eg": _pa(r[0] for r in _EN_GIVEN), "eg_variant": _pa(r[1] for r in _EN_GIVEN),
        "ef": _pa(_EN_FAMILY), "eg_wide": _pa(wide(r[0]) for r in _EN_GIVEN),
        "ef_wide": _pa(wide(f) for f in _EN_FAMILY),
        "eg_local": _pa(r[0].lower().replace("-", "") for r in _EN_GIVEN),
        "ef_local": _pa(f.lower().replace("'", "") for f in _EN_FAMILY),
    }


def _render_names(st: _Streams, idx: np.ndarray, ja: np.ndarray,
                  person: dict[str, np.ndarray]) -> dict[str, pa.Array]:
    """Canonical name plus the variants a duplicate may carry, and e-mail name parts."""
    w = _name_lists()
    g, f = person["given"], person["family"]
    jg, jf = np.minimum(g, len(_JP_GIVEN) - 1), np.minimum(f, len(_JP_FAMILY) - 1)
    eg, ef = np.minimum(g, len(_EN_GIVEN) - 1), np.minimum(f, len(_EN_FAMILY) - 1)
    sep = (person["style"] % 10 >= 7).astype(int) + (person["style"] % 10 >= 9)
    seps = [" ", "", "\u3000"]
    kanji = lambda s: _cat(_take(w["jf"], jf), _take(seps, s), _take(w["jg"], jg))
    en = _cat(_take(w["eg"], eg), " ", _take(w["ef"], ef))
    pick = lambda jp, other: _where(ja, jp, other)
    return {
        "name": pick(kanji(sep), en),
        "alt_spacing": pick(kanji(np.where(sep == 0, 1, 0)), pc.utf8_upper(en)),
        "kana": pick(_cat(_take(w["jf_kana"], jf), " ", _take(w["jg_kana"], jg)),
                     _cat(_take(w["eg_variant"], eg), " ", _take(w["ef"], ef))),
        "half_width": pick(_cat(_take(w["jf_half"], jf), " ", _take(w["jg_half"], jg)),
                           _cat(_take(w["eg_wide"], eg), " ", _take(w["ef_wide"], ef))),
        "latin": pick(_cat(_take(w["jg_latin"], jg), " ", _take(w["jf_latin"], jf)),
                      _cat(_take(w["ef"], ef), ", ", _take(w["eg"], eg))),
        "local_given": pick(_take(w["jg_roman"], jg), _take(w["eg_local"], eg)),
        "local_family": pick(_take(w["jf_roman"], jf), _take(w["ef_local"], ef)),
    }


def _render_email_parts(st: _Streams, idx: np.ndarray, accounts: _Accounts,
                        account: np.ndarray, ja: np.ndarray, person: dict[str, np.ndarray],
                        names: dict[str, pa.Array]) -> tuple[pa.Array, pa.Array]:
    """(user, host): corporate (four local-part styles) or free-mail; unique addresses."""
    g, f = names["local_given"], names["local_family"]
    local = _choose(person["style"] // 10 % 4, _cat(g, ".", f),
                    _cat(pc.utf8_slice_codeunits(g, 0, 1), f), _cat(f, ".", g), _cat(g, "_", f))
    free_user, free_host = _free_mail(st, idx, ja, g, f)
    use_free = (account < 0) | st.bern(idx, 0.06)
    user = _where(use_free, free_user, local)
    host = _where(use_free, free_host, accounts.domain.take(pa.array(np.maximum(account, 0))))
    rank = _occurrence_rank(_cat(user, "@", host))
    counter = pa.array(rank + 1).cast(pa.string())
    return _where(rank > 0, _cat(user, counter), user), host


def _free_mail(st: _Streams, idx: np.ndarray, ja: np.ndarray, g: pa.Array,
               f: pa.Array) -> tuple[pa.Array, pa.Array]:
    ja_host = _take([d for d, _ in _FREE_MAIL_JA], st.cat(idx, [p for _, p in _FREE_MAIL_JA]))
    en_host = _take([d for d, _ in _FREE_MAIL_EN], st.cat(idx, [p for _, p in _FREE_MAIL_EN]))
    digits = pa.array(10 + st.pick(idx, 90)).cast(pa.string())
    return _cat(g, ".", f, digits), _where(ja, ja_host, en_host)


def _vary_email(st: _Streams, idx: np.ndarray, user: pa.Array, host: pa.Array,
                names: dict[str, pa.Array], ja: np.ndarray) -> pa.Array:
    """A duplicate's e-mail: the same, capitalised, a free-mail address, or missing."""
    choice = st.cat(idx, (0.35, 0.15, 0.40, 0.10))
    free_user, free_host = _free_mail(st, idx, ja, names["local_given"], names["local_family"])
    return _choose(choice, _cat(user, "@", host), _cat(pc.utf8_title(user), "@", host),
                   _cat(free_user, "@", free_host), pa.scalar(None, pa.string()))


_MESSY_FORMS = 4  # clean, full-width space, double space, full-width letters


def _title_table() -> pa.Array:
    """Job titles indexed by (((language*6 + seniority)*8 + department)*3 + variant)*4 + mess."""
    wide = lambda s: jaconv.h2z(s, kana=False, ascii=True, digit=True)
    out = []
    for lang in (0, 1):
        for sen in range(len(SENIORITY_LEVELS)):
            for d in range(len(DEPARTMENTS)):
                for title in _titles(lang, sen, d):
                    out += [title, title.replace(" ", "\u3000"), title.replace(" ", "  "),
                            wide(title)]
    return _pa(out)


def _titles(lang: int, sen: int, d: int) -> tuple[str, str, str]:
    jd, ed, role = _JP_DEPT[d], _EN_DEPT[d], _EN_ROLE[d]
    chief = {"it": "CTO", "engineering": "CTO", "marketing": "CMO", "finance": "CFO",
             "sales": "CRO", "operations": "COO"}.get(DEPARTMENTS[d])
    japanese = (("代表取締役社長", "取締役", f"取締役 {chief}" if chief else "常務取締役"),
                ("執行役員", f"{jd}本部 本部長", f"執行役員 {jd}本部長"),
                (f"{jd}部 部長", f"{jd}部 部長", f"{jd}部 次長"),
                (f"{jd}部 課長", f"{jd}課 課長", f"{jd}部 マネージャー"),
                (f"{jd}部 係長", f"{jd}部 主任", f"{jd}部 リーダー"),
                (f"{jd}部 担当", f"{jd}部", f"{jd}担当"))
    english = (("CEO", "Founder", chief or "Managing Director"),
               (f"VP of {ed}", f"Vice President, {ed}", f"SVP {ed}"),
               (f"Director of {ed}", f"Head of {ed}", f"{ed} Director"),
               (f"{ed} Manager", f"Senior {ed} Manager", f"{ed} Manager"),
               (f"{ed} Team Lead", f"Team Lead, {ed}", f"Senior {role}"),
               (role, role, f"{ed} Associate"))
    return (japanese if lang == 0 else english)[sen]


def _render_titles(st: _Streams, idx: np.ndarray, ja: np.ndarray,
                   person: dict[str, np.ndarray]) -> tuple[pa.Array, pa.Array]:
    """Job title and department as typed: mostly clean, some messy, some missing."""
    lang = (~ja).astype(np.int64)
    variant = st.pick(idx, 3)
    messy = st.cat(idx, (0.93, 0.03, 0.02, 0.02))
    cell = (((lang * len(SENIORITY_LEVELS) + person["seniority"]) * len(DEPARTMENTS)
             + person["dept"]) * 3 + variant) * _MESSY_FORMS + messy
    title = _take(_title_table(), cell, missing=st.bern(idx, 0.04))
    departments = [f"{d}部" for d in _JP_DEPT] + list(_EN_DEPT) + list(_JUNK_DEPARTMENTS)
    kind = st.cat(idx, (0.87, 0.03, 0.10))
    junk = 2 * len(DEPARTMENTS) + st.pick(idx, len(_JUNK_DEPARTMENTS))
    dept = np.where(kind == 1, junk, lang * len(DEPARTMENTS) + person["dept"])
    return title, _take(departments, dept, missing=kind == 2)


def _lead_attribute_codes(st: _Streams, idx: np.ndarray, ja: np.ndarray, source: np.ndarray,
                          vocab: _Vocabulary) -> np.ndarray:
    """leads.attributes: prefecture (Japanese), UTM tags (paid ads) or opt-in; 35% missing."""
    pref = vocab.code("prefecture", st.cat(idx, [p for _, p in _PREFECTURES]))
    utm = vocab.code("utm", st.pick(idx, 3))
    opt = vocab.code("opt_in", st.pick(idx, 2))
    kind = np.where(source == _SRC["paid_ads"], 1, np.where(ja, 0, 2))
    kind = np.where(st.bern(idx, 0.35), 3, kind)
    return np.choose(kind, [pref, utm, opt, np.full(len(idx), -1)])


# ----------------------------------------------------------------------------------------------
# Per-chunk simulation: activities, inside-sales work, status, deals
# ----------------------------------------------------------------------------------------------

HOT_SOURCES = ("inbound_form", "exhibition", "outbound_list", "referral", "partner", "chat")
WEB_SESSIONS, WEB_TAU_DAYS, WEB_BACKGROUND_PER_DAY = 1.6, 21.0, 0.003
PAGES_PER_SESSION = 0.5  # extra page views per session (Poisson mean)
NURTURE_EMAILS_PER_DAY, NURTURE_DAYS = 1.0 / 30.0, 180.0
WEBINARS_PER_YEAR, EXHIBITIONS_PER_YEAR = 0.3, 0.15
_RAMP_TYPES = ("pricing_page_view", "demo_request", "email_reply", "content_download",
               "page_view", "form_submit")
_RAMP_P = (0.35, 0.10, 0.20, 0.10, 0.20, 0.05)


@dataclass
class _Fates:
    """What happened to each lead (float days; inf = never). Filled chunk by chunk."""

    mql: np.ndarray
    sql: np.ndarray
    disqualified: np.ndarray
    recycled: np.ndarray
    converted: np.ndarray
    budget_at: np.ndarray
    authority_at: np.ndarray
    need_at: np.ndarray
    timeline_at: np.ndarray
    worked: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Fates:
        never = {f.name: np.full(n, _NEVER) for f in fields(cls) if f.name != "worked"}
        return cls(worked=np.zeros(n, dtype=bool), **never)

    def store(self, start: int, values: dict[str, np.ndarray]) -> None:
        for name, arr in values.items():
            getattr(self, name)[start:start + len(arr)] = arr


class _EventLog:
    """Events of one chunk as parallel arrays (lead, time, type, channel, property code)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, lead: np.ndarray, t: np.ndarray, kind: object, prop: object = -1,
            channel: object = -1) -> None:
        n = len(lead)
        self.parts.append((lead.astype(np.int64), np.asarray(t, dtype=float),
                           np.broadcast_to(np.asarray(kind, dtype=np.int8), (n,)),
                           np.broadcast_to(np.asarray(channel, dtype=np.int8), (n,)),
                           np.broadcast_to(np.asarray(prop, dtype=np.int32), (n,))))

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int8),
                    np.zeros(0, np.int8), np.zeros(0, np.int32))
        return tuple(np.concatenate(cols) for cols in zip(*self.parts))


@dataclass
class _ChunkResult:
    events: tuple[np.ndarray, ...]
    deals: _Deals
    streams: _Streams


def _simulate_chunk(config: GeneratorConfig, cal: _Calendar, vocab: _Vocabulary,
                    accounts: _Accounts, people: _People, fates: _Fates, start: int,
                    stop: int) -> _ChunkResult:
    p = people.take(start, stop)
    st = _Streams.for_chunk(config.seed, start, stop)
    log = _EventLog()
    scale = config.activities_per_lead / 20.0
    _add_marketing_events(log, p, st, cal, vocab, scale)
    leads = np.arange(stop - start)
    sql90_at = np.where(p.sql90, p.created + p.sql_delay, _NEVER)
    _add_intent_ramp(log, p, st, vocab, leads[p.sql90], sql90_at[p.sql90], p.created[p.sql90])
    mql = _first_mql(log, p)
    work = _work_leads(log, p, st, cal, vocab, mql, sql90_at)
    deals = _work_deals(log, p, st, cal, vocab, accounts, work, start)
    fates.store(start, {"mql": mql, **work})
    return _ChunkResult(log.arrays(), deals, st)


# --- marketing -------------------------------------------------------------------------------

def _add_marketing_events(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                          vocab: _Vocabulary, scale: float) -> None:
    _add_creation_events(log, p, st, cal, vocab)
    _add_web_activity(log, p, st, cal, vocab, scale)
    _add_nurture_emails(log, p, st, cal, vocab, scale)
    _add_webinars(log, p, st, cal, vocab, scale)
    _add_exhibitions(log, p, st, cal, vocab, scale)
    _add_chats(log, p, st, cal, vocab, scale)


def _add_creation_events(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                         vocab: _Vocabulary) -> None:
    """The touch that created the lead (form, ad click, chat, e-mail click ...)."""
    src, t = p.source, p.created
    leads = np.arange(len(t))
    form = leads[src == _SRC["inbound_form"]]
    log.add(form, t[form], _T["form_submit"], vocab.code("form", 0))
    demo = form[st.bern(form, 0.25)]
    log.add(demo, t[demo] + 1e-5, _T["demo_request"], vocab.code("demo"))
    ads = leads[src == _SRC["paid_ads"]]
    log.add(ads, t[ads], _T["page_view"], -1, CHANNELS.index("ads"))
    organic = leads[src == _SRC["organic"]]
    log.add(organic, t[organic], _T["page_view"], vocab.code("page", st.pick(organic, 10)))
    mail = leads[src == _SRC["email_campaign"]]
    log.add(mail, t[mail] - st.uniform(mail, 0.001, 0.2), _T["email_open"])
    log.add(mail, t[mail], _T["email_click"])
    chat = leads[src == _SRC["chat"]]
    log.add(chat, t[chat], _T["chat"], vocab.code("chat", st.pick(chat, 4)))
    web = leads[src == _SRC["webinar"]]
    log.add(web, t[web], _T["webinar_register"],
            vocab.code("webinar", np.searchsorted(cal.webinars, p.source_time[web])))
    expo = leads[src == _SRC["exhibition"]]
    log.add(expo, t[expo], _T["exhibition_visit"],
            vocab.code("exhibition", np.searchsorted(cal.exhibitions, t[expo]) - 1))


def _add_web_activity(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                      vocab: _Vocabulary, scale: float) -> None:
    """Web sessions: decaying after creation, a slow background, and pre-creation visits."""
    leads = np.arange(len(p.created))
    horizon = cal.end - p.created
    lead, t = _decaying_process(st, leads, p.created, horizon,
                                scale * WEB_SESSIONS * np.exp(0.6 * p.z), WEB_TAU_DAYS)
    back_n = st.poisson(leads, scale * WEB_BACKGROUND_PER_DAY * np.exp(0.4 * p.z) * horizon)
    back = np.repeat(leads, back_n)
    back_t = p.created[back] + st.u(back) * horizon[back]
    lead, t = _merge_by_lead((lead, t), (back, back_t))
    t = np.maximum(_at_local_hour(t, p.tz[lead], _daytime_hours(st, lead)), p.created[lead])
    _add_sessions(log, p, st, vocab, lead, t)
    early = leads[np.isin(p.source, [_SRC["inbound_form"], _SRC["organic"], _SRC["paid_ads"],
                                     _SRC["chat"]])]
    pre = np.repeat(early, st.poisson(early, 1.5 * min(scale, 3.0)))
    pre_t = p.created[pre] - st.uniform(pre, 0.01, 14.0)
    _add_sessions(log, p, st, vocab, pre, pre_t)


def _decaying_process(st: _Streams, leads: np.ndarray, t0: np.ndarray, horizon: np.ndarray,
                      mass: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Poisson process with rate (mass/tau) * exp(-(t - t0)/tau) on [t0, t0 + horizon]."""
    frac = -np.expm1(-np.maximum(horizon, 0.0) / tau)
    lead = np.repeat(leads, st.poisson(leads, mass * frac))
    t = t0[lead] - tau * np.log1p(-st.u(lead) * frac[lead])
    return lead, t


def _merge_by_lead(*parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Concatenate parallel arrays (lead first) and order them by lead, stably."""
    columns = [np.concatenate(col) for col in zip(*parts)]
    order = np.argsort(columns[0], kind="stable")
    return tuple(col[order] for col in columns)


def _add_sessions(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                  lead: np.ndarray, t: np.ndarray) -> None:
    """A web session: 1+Poisson(0.8) page views; maybe pricing, download, form, demo."""
    pages = np.repeat(np.arange(len(lead)), 1 + st.poisson(lead, PAGES_PER_SESSION))
    page_lead = lead[pages]
    path = np.where(st.bern(page_lead, 0.5), vocab.code("page", st.pick(page_lead, 10)), -1)
    channel = np.where(st.bern(page_lead, 0.08), CHANNELS.index("ads"), -1)
    log.add(page_lead, t[pages] + st.uniform(page_lead, 0.0, 0.007), _T["page_view"], path,
            channel)
    z, icp = p.z[lead], p.icp[lead]
    for kind, prob, prop in (
        ("pricing_page_view", _sigmoid(-2.6 + 0.7 * z + 0.6 * icp), vocab.code("pricing", 0)),
        ("content_download", np.minimum(0.05 * np.exp(0.3 * z), 0.5), None),
        ("form_submit", np.full(len(lead), 0.02), vocab.code("form", 1)),
        ("demo_request", _sigmoid(-5.5 + 0.8 * z + 0.6 * icp), vocab.code("demo")),
    ):
        hit = st.bern(lead, prob)
        code = vocab.code("asset", st.pick(lead[hit], len(_ASSETS))) if prop is None else prop
        log.add(lead[hit], t[hit] + st.uniform(lead[hit], 0.0, 0.01), _T[kind], code)


def _add_nurture_emails(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                        vocab: _Vocabulary, scale: float) -> None:
    """Bi-weekly nurture e-mails (Tue/Thu 10:00 local) with opens, clicks, unsubscribes."""
    leads = np.arange(len(p.created))
    horizon = np.minimum(cal.end - p.created, NURTURE_DAYS)
    n = np.where(p.bounce, 0, st.poisson(leads, scale * NURTURE_EMAILS_PER_DAY * horizon))
    lead = np.repeat(leads, n)
    sent = _next_send_slot(p.created[lead] + st.u(lead) * horizon[lead], p.tz[lead])
    lead, sent = _unique_pairs(lead, sent)  # one e-mail per send slot
    unsub_at = p.created + st.exp(leads, 400.0 * np.exp(0.5 * p.z))
    keep = sent < unsub_at[lead]
    lead, sent = lead[keep], sent[keep]
    log.add(lead, sent, _T["email_sent"], _campaign_code(vocab, sent))
    unsub = leads[unsub_at <= p.created + horizon]
    log.add(unsub, unsub_at[unsub], _T["unsubscribe"])
    opened = st.bern(lead, _sigmoid(-1.0 + 0.5 * p.z[lead]))
    o_lead, o_t = lead[opened], sent[opened] + st.exp(lead[opened], 0.3)
    log.add(o_lead, o_t, _T["email_open"], _campaign_code(vocab, sent[opened]))
    clicked = st.bern(o_lead, _sigmoid(-1.2 + 0.6 * p.z[o_lead]))
    c_lead, c_t = o_lead[clicked], o_t[clicked] + st.exp(o_lead[clicked], 0.003)
    log.add(c_lead, c_t, _T["email_click"], _campaign_code(vocab, sent[opened][clicked]))
    log.add(c_lead, c_t + 0.0007, _T["page_view"], vocab.code("page", st.pick(c_lead, 10)))
    bounced = leads[p.bounce]
    first = _next_send_slot(p.created[bounced] + st.uniform(bounced, 0.5, 7.0), p.tz[bounced])
    log.add(bounced, first, _T["email_sent"], _campaign_code(vocab, first))
    log.add(bounced, first + 0.0007, _T["email_bounce"], vocab.code("bounce", 0))


def _unique_pairs(lead: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (lead, time) pairs, ordered by lead then time."""
    order = np.lexsort((t, lead))
    lead, t = lead[order], t[order]
    keep = np.r_[True, (lead[1:] != lead[:-1]) | (t[1:] != t[:-1])]
    return lead[keep], t[keep]


def _next_send_slot(t: np.ndarray, tz: np.ndarray) -> np.ndarray:
    """The next Tuesday or Thursday 10:00 local strictly after the local day of ``t``."""
    local_day = np.floor(t + tz / 24.0)
    ahead = np.array([1, 2, 1, 5, 4, 3, 2])[_weekday(local_day)]
    return local_day + ahead + (10.0 - tz) / 24.0


def _campaign_code(vocab: _Vocabulary, t: np.ndarray) -> np.ndarray:
    month = _month_index(np.where(np.isfinite(t), t, 0.0))
    return vocab.code("campaign", month - vocab.first_month)


def _add_webinars(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                  vocab: _Vocabulary, scale: float) -> None:
    """Registrations to later webinars, attendance, and browsing bursts after attending."""
    leads = np.arange(len(p.created))
    rate = scale * WEBINARS_PER_YEAR * np.exp(0.5 * p.z) * (cal.end - p.created) / 365.25
    lead, which = _pick_later_events(st, leads, p.created, cal.webinars, rate)
    start = cal.webinars[which]
    reg_t = np.maximum(start - st.uniform(lead, 0.0, 10.0), p.created[lead])
    log.add(lead, reg_t, _T["webinar_register"], vocab.code("webinar", which))
    own = leads[p.source == _SRC["webinar"]]
    own_which = np.searchsorted(cal.webinars, p.source_time[own])
    lead, start, which = _merge_by_lead((lead, start, which), (own, p.source_time[own],
                                                               own_which))
    attended = st.bern(lead, _sigmoid(0.2 + 0.5 * p.z[lead]))
    a_lead, a_t = lead[attended], start[attended] + st.uniform(lead[attended], 0.0, 0.04)
    log.add(a_lead, a_t, _T["webinar_attend"], vocab.code("webinar", which[attended]))
    _add_bursts(log, p, st, vocab, a_lead, a_t, 1.2, 2.0)


def _pick_later_events(st: _Streams, leads: np.ndarray, t0: np.ndarray, events: np.ndarray,
                       rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(rate) picks per lead among ``events`` after t0 (none if there are none)."""
    lo = np.searchsorted(events, t0, side="right")
    available = len(events) - lo
    lead = np.repeat(leads, np.where(available > 0, st.poisson(leads, rate), 0))
    which = lo[lead] + st.pick(lead, available[lead])
    return lead, which


def _add_bursts(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                lead: np.ndarray, t: np.ndarray, mean: float, tau: float) -> None:
    """Browsing bursts after an event: Poisson(mean*e^{0.3z}) sessions, Exp(tau) days later."""
    parent = np.repeat(np.arange(len(lead)), st.poisson(lead, mean * np.exp(0.3 * p.z[lead])))
    s_lead = lead[parent]
    s_t = t[parent] + st.exp(s_lead, tau)
    _add_sessions(log, p, st, vocab, s_lead, s_t)


def _add_exhibitions(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                     vocab: _Vocabulary, scale: float) -> None:
    """Visits to later exhibitions' booths, and bursts after every visit (incl. the first)."""
    leads = np.arange(len(p.created))
    rate = scale * EXHIBITIONS_PER_YEAR * np.exp(0.3 * p.z) * (cal.end - p.created) / 365.25
    lead, which = _pick_later_events(st, leads, p.created, cal.exhibitions, rate)
    visit = cal.exhibitions[which] + st.pick(lead, 3) + st.uniform(lead, 1.0 / 24, 8.0 / 24)
    log.add(lead, visit, _T["exhibition_visit"], vocab.code("exhibition", which))
    own = leads[p.source == _SRC["exhibition"]]
    lead, visit = _merge_by_lead((lead, visit), (own, p.created[own]))
    _add_bursts(log, p, st, vocab, lead, visit, 1.0, 3.0)


def _add_chats(log: _EventLog, p: _People, st: _Streams, cal: _Calendar, vocab: _Vocabulary,
               scale: float) -> None:
    leads = np.arange(len(p.created))
    lead, t = _decaying_process(st, leads, p.created, cal.end - p.created,
                                scale * 0.1 * np.exp(0.5 * p.z), WEB_TAU_DAYS)
    log.add(lead, t, _T["chat"], vocab.code("chat", st.pick(lead, 4)))


def _add_intent_ramp(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                     lead: np.ndarray, sql_at: np.ndarray, floor: np.ndarray) -> None:
    """High-intent events that pile up before a lead's SQL (truncated Exp(6 days) lead time)."""
    span = np.maximum(sql_at - floor, 1e-4)
    parent = np.repeat(np.arange(len(lead)), 1 + st.poisson(lead, 2.0 * np.exp(0.2 * p.z[lead])))
    r_lead, r_span = lead[parent], span[parent]
    back = -6.0 * np.log1p(-st.u(r_lead) * -np.expm1(-r_span / 6.0))
    kind = np.take(np.array([_T[k] for k in _RAMP_TYPES], dtype=np.int8),
                   st.cat(r_lead, _RAMP_P))
    prop = np.select([kind == _T["pricing_page_view"], kind == _T["demo_request"],
                      kind == _T["content_download"], kind == _T["form_submit"]],
                     [vocab.code("pricing", 1), vocab.code("demo"),
                      vocab.code("asset", st.pick(r_lead, len(_ASSETS))),
                      vocab.code("form", 0)], -1)
    log.add(r_lead, sql_at[parent] - back, kind, prop)
    booked = sql_at - st.uniform(lead, 0.2, 0.8) * np.minimum(span, 7.0)
    log.add(lead, booked, _T["meeting_booked"], vocab.code("meeting", st.pick(lead, 2)))


def _first_mql(log: _EventLog, p: _People) -> np.ndarray:
    """When cumulative engagement score first reaches MQL_THRESHOLD (inf if never)."""
    lead, t, kind, _, _ = log.arrays()
    weights = np.zeros(len(schema.ACTIVITY_TYPES))
    for name, w in ENGAGEMENT_WEIGHTS.items():
        weights[_T[name]] = w
    order = np.lexsort((t, lead))
    lead, t = lead[order], t[order]
    running = np.cumsum(weights[kind[order]])
    n = len(p.created)
    starts = np.searchsorted(lead, np.arange(n))
    before = np.where(starts > 0, running[np.maximum(starts - 1, 0)], 0.0) if len(lead) else \
        np.zeros(n)
    hit = np.flatnonzero(running - before[lead] >= MQL_THRESHOLD)
    first = np.full(n, _NEVER)
    leads_hit, pos = np.unique(lead[hit], return_index=True)
    first[leads_hit] = t[hit[pos]]
    return np.maximum(first, p.created)


# --- inside sales ----------------------------------------------------------------------------

def _work_leads(log: _EventLog, p: _People, st: _Streams, cal: _Calendar, vocab: _Vocabulary,
                mql: np.ndarray, sql90_at: np.ndarray) -> dict[str, np.ndarray]:
    """Calls, BANT confirmation, disqualification, recycling and late (re-engaged) SQLs."""
    leads = np.arange(len(p.created))
    hot = np.isin(p.source, [_SRC[s] for s in HOT_SOURCES])
    natural = np.where(hot, p.created + st.exp(leads, 1.5), mql + st.exp(leads, 1.0))
    early = p.created + (np.where(p.sql90, sql90_at, p.created) - p.created) * st.uniform(
        leads, 0.0, 0.6)
    w0 = np.where(p.sql90, np.minimum(natural, early), natural)
    w1 = np.where(p.sql90, sql90_at, w0 + 21.0)
    worked = leads[np.isfinite(w0)]
    conn = _add_calls(log, p, st, vocab, worked, w0[worked], w1[worked], p.sql90[worked])
    confirmed = _confirm_bant(st, p, worked, conn, p.sql90[worked], sql90_at[worked])
    _add_sales_emails(log, p, st, vocab, worked, w0[worked], w1[worked])
    _add_meetings(log, p, st, vocab, worked[~p.sql90[worked]], conn)
    dq, recycled = _disqualify_or_recycle(st, p, worked, confirmed, w1)
    late_sql = _late_sql(log, p, st, vocab, recycled, confirmed)
    return {"sql": np.where(p.sql90, sql90_at, late_sql), "disqualified": dq,
            "recycled": recycled, "worked": np.isfinite(w0), **confirmed}


def _add_calls(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary, lead: np.ndarray,
               w0: np.ndarray, w1: np.ndarray, final: np.ndarray) -> tuple[np.ndarray, ...]:
    """Dials in [w0, w1] in business hours; a qualifying conversation at w1 if ``final``.

    Returns the connected conversations (lead, time), sorted by lead.
    """
    n = np.where(final, st.poisson(lead, 2.0), 1 + st.poisson(lead, 2.5))
    pos = np.repeat(np.arange(len(lead)), n)
    c_lead = lead[pos]
    t = w0[pos] + st.u(c_lead) * (w1[pos] - w0[pos])
    t = np.clip(_business_time(st, c_lead, t, p.tz[c_lead]), w0[pos],
                np.where(final[pos], w1[pos], _NEVER))
    skill = np.take(REP_SKILL, p.owner[c_lead])
    ok = st.bern(c_lead, _sigmoid(-0.8 + 0.4 * p.z[c_lead] + skill))
    log.add(c_lead[~ok], t[~ok], _T["call_attempt"],
            vocab.code("call_result", st.pick(c_lead[~ok], 3)))
    log.add(c_lead[ok], t[ok], _T["call_connected"],
            vocab.code("call_minutes", st.pick(c_lead[ok], 30) + 2))
    f_lead, f_t = lead[final], w1[final]
    meeting = st.bern(f_lead, 0.4)
    log.add(f_lead[meeting], f_t[meeting], _T["meeting_held"], vocab.code("meeting", 0))
    log.add(f_lead[~meeting], f_t[~meeting], _T["call_connected"],
            vocab.code("call_minutes", st.pick(f_lead[~meeting], 40) + 10))
    return _merge_by_lead((c_lead[ok], t[ok]), (f_lead, f_t))


def _confirm_bant(st: _Streams, p: _People, lead: np.ndarray, conn: tuple[np.ndarray, ...],
                  qualified: np.ndarray, sql_at: np.ndarray) -> dict[str, np.ndarray]:
    """BANT confirmation times; each element is confirmed during a connected conversation.

    Qualified (SQL) leads confirm every true B/A/N element (and a false one w.p. 0.4), and the
    timeline during the qualifying conversation at sql_at; others confirm each element with
    probability (0.45, 0.6, 0.7, 0.5).
    """
    n = len(p.created)
    out = {f"{e}_at": np.full(n, _NEVER) for e in ("budget", "authority", "need", "timeline")}
    counts = np.bincount(conn[0], minlength=n)
    first = np.cumsum(counts) - counts
    talked = lead[counts[lead] > 0]
    q = qualified[counts[lead] > 0]
    for element, prob in (("budget", 0.45), ("authority", 0.6), ("need", 0.7),
                          ("timeline", 0.5)):
        truth = getattr(p, element)[talked] if element != "timeline" else np.ones(len(talked))
        want = np.where(q, truth.astype(bool) | st.bern(talked, 0.4), st.bern(talked, prob))
        when = conn[1][first[talked] + st.pick(talked, counts[talked])]
        if element == "timeline":
            when = np.where(q, sql_at[counts[lead] > 0], when)
        out[f"{element}_at"][talked[want]] = when[want]
    return out


def _add_sales_emails(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                      lead: np.ndarray, w0: np.ndarray, w1: np.ndarray) -> None:
    ok = ~p.bounce[lead]
    lead, w0, w1 = lead[ok], w0[ok], w1[ok]
    pos = np.repeat(np.arange(len(lead)), st.poisson(lead, 1.5))
    e_lead = lead[pos]
    sent = _business_time(st, e_lead, w0[pos] + st.u(e_lead) * (w1[pos] - w0[pos]),
                          p.tz[e_lead])
    log.add(e_lead, sent, _T["email_sent"], vocab.code("sales_email"))
    replied = st.bern(e_lead, _sigmoid(-2.0 + 0.8 * p.z[e_lead]))
    log.add(e_lead[replied], sent[replied] + st.exp(e_lead[replied], 0.5), _T["email_reply"],
            vocab.code("sales_email"))


def _add_meetings(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                  lead: np.ndarray, conn: tuple[np.ndarray, ...]) -> None:
    """Not-yet-qualified leads sometimes book a meeting during a conversation."""
    talked = np.isin(conn[0], lead)
    c_lead, c_t = conn[0][talked], conn[1][talked]
    booked = st.bern(c_lead, _sigmoid(-3.0 + 0.5 * p.z[c_lead]))
    b_lead, b_t = c_lead[booked], c_t[booked]
    log.add(b_lead, b_t + 0.002, _T["meeting_booked"], vocab.code("meeting", 0))
    held = st.bern(b_lead, 0.7)
    log.add(b_lead[held], b_t[held] + st.uniform(b_lead[held], 2.0, 10.0), _T["meeting_held"],
            vocab.code("meeting", st.pick(b_lead[held], 2)))


def _disqualify_or_recycle(st: _Streams, p: _People, worked: np.ndarray,
                           confirmed: dict[str, np.ndarray],
                           w1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Worked leads that do not qualify: disqualified (bad BANT facts) or back to nurture."""
    n = len(p.created)
    dq, recycled = np.full(n, _NEVER), np.full(n, _NEVER)
    lead = worked[~p.sql90[worked]]
    no_need = np.isfinite(confirmed["need_at"][lead]) & ~p.need[lead]
    no_power = (np.isfinite(confirmed["budget_at"][lead]) & ~p.budget[lead]
                & np.isfinite(confirmed["authority_at"][lead]) & ~p.authority[lead])
    reason = no_need | no_power | p.bounce[lead]
    out = st.bern(lead, np.where(reason, 0.7, 0.04))
    dq[lead[out]] = w1[lead[out]] + st.uniform(lead[out], 0.0, 3.0)
    rest = lead[~out]
    back = rest[st.bern(rest, 0.6)]
    recycled[back] = w1[back] + st.uniform(back, 3.0, 30.0)
    return dq, recycled


def _late_sql(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
              recycled: np.ndarray, confirmed: dict[str, np.ndarray]) -> np.ndarray:
    """Recycled leads re-engage (after day 90) and some of them qualify then: their sql_at."""
    n = len(p.created)
    lead = np.flatnonzero(np.isfinite(recycled))
    lead = lead[st.bern(lead, 0.35)]
    again = np.maximum(recycled[lead], p.created[lead] + SQL_HORIZON_DAYS) + st.exp(lead, 100.0)
    parent = np.repeat(np.arange(len(lead)), 2 + st.poisson(lead, 3.0 * np.exp(0.3 * p.z[lead])))
    _add_sessions(log, p, st, vocab, lead[parent], again[parent] + st.exp(lead[parent], 7.0))
    wins = p.bant_ok[lead] & st.bern(lead, 0.5)
    q_lead, start = lead[wins], again[wins]
    sql = np.full(n, _NEVER)
    sql[q_lead] = start + st.uniform(q_lead, 3.0, 30.0)
    _add_intent_ramp(log, p, st, vocab, q_lead, sql[q_lead], start)
    everyone = np.ones(len(q_lead), dtype=bool)
    conn = _add_calls(log, p, st, vocab, q_lead, start, sql[q_lead], everyone)
    late = _confirm_bant(st, p, q_lead, conn, everyone, sql[q_lead])
    for key, times in late.items():
        confirmed[key] = np.minimum(confirmed[key], times)
    return sql


# --- deals -----------------------------------------------------------------------------------

LOST_AT_STAGE_P = (0.20, 0.30, 0.30, 0.20)
_MAX_PUSHES = 12


@dataclass
class _Deals:
    """Simulated deals (times in days) and every change to them (history rows)."""

    created: np.ndarray
    product: np.ndarray
    japan: np.ndarray
    won: np.ndarray
    close: np.ndarray
    loss_reason: np.ndarray
    executive: np.ndarray
    lead: np.ndarray            # global lead index (-1: direct deal)
    account: np.ndarray         # account index (-1: none)
    h_deal: np.ndarray
    h_time: np.ndarray
    h_stage: np.ndarray
    h_amount: np.ndarray        # USD
    h_ecd: np.ndarray


def _simulate_deals(st: _Streams, owner: np.ndarray, created: np.ndarray, icp: np.ndarray,
                    z: np.ndarray, employees: np.ndarray, japan: np.ndarray,
                    end: float) -> _Deals:
    """Deals from creation to won/lost: amounts, stage path, slipping close dates.

    ``owner`` is the chunk-local lead index of each deal (sorted), used for the random draws.
    """
    size = np.where(employees < 100, 0, np.where(employees < 1000, 1, 2))
    product = np.choose(size, [
        st.cat(owner, (0.60, 0.35, 0.05)), st.cat(owner, (0.25, 0.55, 0.20)),
        st.cat(owner, (0.05, 0.45, 0.50))])
    amount = np.take(PRODUCT_BASE_USD, product) * np.exp(
        0.15 * np.log(np.clip(employees, 10, 1e5) / 300.0) + st.normal(owner, 0.0, 0.45))
    w0, w_icp, w_z, w_amount = WIN_COEF
    won = st.bern(owner, _sigmoid(w0 + w_icp * icp + w_z * z + w_amount * np.log(amount / 24e3)))
    reached = np.where(won, 3, st.cat(owner, LOST_AT_STAGE_P))
    cycle = np.exp(st.normal(owner, math.log(CLOSE_MEDIAN_DAYS) + 0.2 * np.log(amount / 24e3),
                             0.5))
    frac = st.gamma(np.repeat(owner, 4), 2.0).reshape(-1, 4)
    frac /= frac.sum(axis=1, keepdims=True)
    entry = created[:, None] + cycle[:, None] * np.cumsum(
        np.concatenate([np.zeros((len(owner), 1)), frac[:, :3]], axis=1), axis=1)
    rows = np.arange(len(owner))
    lost_close = entry[rows, reached] + cycle * frac[rows, reached] * st.uniform(owner, 0.5, 2.0)
    close = _push_close(st, owner, np.where(won, created + cycle, lost_close), won)
    history = _deal_history(st, owner, created, amount, cycle, entry, reached, won, close, end)
    reason = st.cat(owner, (0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1))
    reason = np.where(~icp & st.bern(owner, 0.3), LOSS_REASONS.index("product_fit"), reason)
    executive = np.where(japan, st.pick(owner, len(ACCOUNT_EXECUTIVES_JP)),
                         len(ACCOUNT_EXECUTIVES_JP) + st.pick(owner, 2))
    none = np.full(len(owner), -1)
    return _Deals(created, product, japan, won, close, reason, executive, none, none, *history)


def _push_close(st: _Streams, owner: np.ndarray, close: np.ndarray,
                won: np.ndarray) -> np.ndarray:
    """Month-end push (close in the month's last 5 days) and quarter-end slips of won deals."""
    month = _month_index(close) % 12
    to_quarter_end = 2 - month % 3
    quarter = won & (to_quarter_end > 0) & st.bern(owner, QUARTER_END_PUSH_P)
    push = st.bern(owner, np.where(won, MONTH_END_PUSH_P[0], MONTH_END_PUSH_P[1])) | quarter
    target = (_month_last_day(close, np.where(quarter, to_quarter_end, 0))
              - st.pick(owner, 5) + st.uniform(owner, 0.25, 0.45))
    return np.where(push & (target > close), target, close)


def _deal_history(st: _Streams, owner: np.ndarray, created: np.ndarray, amount: np.ndarray,
                  cycle: np.ndarray, entry: np.ndarray, reached: np.ndarray, won: np.ndarray,
                  close: np.ndarray, end: float) -> tuple[np.ndarray, ...]:
    """Rows (deal, time, stage, amount, ecd); -1 / NaN = unchanged, forward-filled per deal."""
    n = len(owner)
    deals = np.arange(n)
    ecd0 = _month_last_day(created + cycle * np.exp(st.normal(owner, -0.25, 0.3)))
    rows = [(deals, created, np.zeros(n), amount, ecd0)]
    scoped = np.where(st.bern(owner, 0.2), np.exp(st.normal(owner, 0.05, 0.2)), 1.0)
    discount = np.where(st.bern(owner, 0.4), st.uniform(owner, 0.8, 0.97), 1.0)
    changes = {1: np.nan, 2: amount * scoped, 3: amount * scoped * discount}
    for k in (1, 2, 3):
        d = deals[reached >= k]
        change = changes[k] if k == 1 else changes[k][d]
        rows.append((d, entry[d, k], np.full(len(d), k), np.broadcast_to(change, (len(d),)),
                     np.full(len(d), np.nan)))
    rows += _regressions(st, owner, deals, entry, reached, close)
    rows += _close_date_pushes(st, owner, ecd0, np.minimum(close, end))
    rows.append((deals, close, np.where(won, 4, 5), np.full(n, np.nan), np.floor(close)))
    return _forward_fill(rows, end)


def _regressions(st: _Streams, owner: np.ndarray, deals: np.ndarray, entry: np.ndarray,
                 reached: np.ndarray, close: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """10% of deals that reach proposal fall back to qualification, then return to proposal."""
    hit = (reached >= 2) & st.bern(owner, 0.1)
    d = deals[hit]
    seg_end = np.where(reached[d] > 2, entry[d, 3], close[d])
    back = entry[d, 2] + (seg_end - entry[d, 2]) * st.uniform(owner[hit], 0.2, 0.5)
    again = back + (seg_end - back) * st.uniform(owner[hit], 0.3, 0.7)
    blank = np.full(len(d), np.nan)
    return [(d, back, np.full(len(d), 1), blank, blank),
            (d, again, np.full(len(d), 2), blank, blank)]


def _close_date_pushes(st: _Streams, owner: np.ndarray, ecd0: np.ndarray,
                       stop: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """When the expected close date passes with the deal still open, it moves 1-2 months on."""
    ecd, rows = ecd0.copy(), []
    for _ in range(_MAX_PUSHES):
        d = np.flatnonzero(ecd + 1.0 < stop)
        when = ecd[d] + 1.0 + st.uniform(owner[d], 0.3, 0.7)
        d, when = d[when < stop[d]], when[when < stop[d]]
        new = _month_last_day(ecd[d] + 1.0, np.where(st.bern(owner[d], 0.2), 1, 0))
        blank = np.full(len(d), np.nan)
        rows.append((d, when, np.full(len(d), -1), blank, new))
        ecd[d] = new
    return rows


def _forward_fill(rows: list[tuple[np.ndarray, ...]], end: float) -> tuple[np.ndarray, ...]:
    deal, t, stage, amount, ecd = (np.concatenate(col) for col in zip(*rows))
    seq = np.concatenate([np.full(len(r[0]), i) for i, r in enumerate(rows)])
    order = np.lexsort((seq, t, deal))
    deal, t, stage, amount, ecd = deal[order], t[order], stage[order], amount[order], ecd[order]
    positions = np.arange(len(deal))
    for values, unchanged in ((stage, stage < 0), (amount, np.isnan(amount)),
                              (ecd, np.isnan(ecd))):
        source = np.maximum.accumulate(np.where(unchanged, 0, positions))
        values[:] = values[source]
    keep = t <= end
    return deal[keep], t[keep], stage[keep].astype(np.int64), amount[keep], ecd[keep]


def _work_deals(log: _EventLog, p: _People, st: _Streams, cal: _Calendar, vocab: _Vocabulary,
                accounts: _Accounts, work: dict[str, np.ndarray], start: int) -> _Deals:
    """SQLs become deals (90%) or go back to nurture; lost deals recycle or disqualify."""
    leads = np.arange(len(p.created))
    sql = work["sql"]
    accepted = st.bern(leads, 0.9)
    opened_at = sql + st.gamma(leads, 2.0, 1.5)
    rejected = leads[(sql <= cal.end) & ~accepted]
    work["recycled"][rejected] = sql[rejected] + st.uniform(rejected, 3.0, 20.0)
    lead = leads[(opened_at <= cal.end) & accepted]
    acc = np.maximum(p.account[lead], 0)
    has = p.account[lead] >= 0
    deals = _simulate_deals(st, lead, opened_at[lead], p.icp[lead], p.z[lead],
                            np.where(has, accounts.employees[acc], 10.0),
                            np.where(has, accounts.country[acc] == 0, p.ja[lead]), cal.end)
    work["converted"] = np.full(len(leads), _NEVER)
    work["converted"][lead[deals.won]] = deals.close[deals.won]
    lost = lead[~deals.won]
    after = st.cat(lost, (0.55, 0.25, 0.20))
    work["recycled"][lost[after == 0]] = (deals.close[~deals.won][after == 0]
                                         + st.uniform(lost[after == 0], 1.0, 14.0))
    work["disqualified"][lost[after == 1]] = (deals.close[~deals.won][after == 1]
                                             + st.uniform(lost[after == 1], 0.0, 3.0))
    _add_deal_activities(log, p, st, vocab, lead, deals)
    deals.lead, deals.account = lead + start, p.account[lead]
    return deals


def _add_deal_activities(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                         lead: np.ndarray, deals: _Deals) -> None:
    """Meetings and replies while a deal is open (after SQL: point-in-time bait)."""
    life = np.minimum(deals.close, deals.created + 120.0) - deals.created
    for kind, mean, prop in (("meeting_held", 1.5, vocab.code("meeting", 1)),
                             ("email_reply", 1.0, vocab.code("sales_email"))):
        pos = np.repeat(np.arange(len(lead)), st.poisson(lead, mean))
        d_lead = lead[pos]
        t = deals.created[pos] + st.u(d_lead) * life[pos]
        t = np.maximum(_business_time(st, d_lead, t, p.tz[d_lead]), deals.created[pos])
        during = t < deals.close[pos]
        log.add(d_lead[during], t[during], _T[kind], prop)


def _simulate_direct_deals(config: GeneratorConfig, cal: _Calendar,
                           accounts: _Accounts) -> _Deals:
    """Account-based deals without a lead (field sales, renewals): account-level ICP, z=0."""
    st = _Streams.single(config.seed, 3)
    n = round(config.direct_opportunity_rate * config.n_leads)
    idx = np.arange(n)
    cum = np.cumsum(accounts.weight)
    acc = np.minimum(np.searchsorted(cum / cum[-1], st.u(idx), side="right"), len(cum) - 1)
    day_cum = np.cumsum(cal.day_weight)
    day = cal.days[np.minimum(np.searchsorted(day_cum / day_cum[-1], st.u(idx), side="right"),
                              len(day_cum) - 1)]
    tz = np.take(UTC_OFFSET_HOURS, accounts.country[acc])
    created = np.clip(_at_local_hour(day, tz, st.uniform(idx, 9.5, 18.0)), cal.start, cal.end)
    order = np.argsort(created, kind="stable")
    acc, created = acc[order], created[order]
    icp = _icp_rule(accounts.industry[acc], accounts.employees[acc],
                    np.take(COUNTRY_REGION, accounts.country[acc]), np.zeros(n, dtype=np.int64))
    deals = _simulate_deals(st, idx, created, icp, st.normal(idx, 0.0, 0.5),
                            accounts.employees[acc], accounts.country[acc] == 0, cal.end)
    deals.account = acc
    return deals


# ----------------------------------------------------------------------------------------------
# Assembling canonical frames
# ----------------------------------------------------------------------------------------------

def _ids(prefix: str, first: int, count: int, width: int) -> pa.Array:
    """prefix + zero-padded numbers first, first+1, ... (``count`` of them)."""
    numbers = pa.array(np.arange(first, first + count)).cast(pa.string())
    return _cat(prefix, pc.utf8_lpad(numbers, width, "0"))


def _text(values: object, codes: np.ndarray | None = None) -> pd.api.extensions.ExtensionArray:
    """A ``str`` array from pyarrow strings, or from codes into ``values`` (-1 = missing)."""
    if codes is None:
        return pd.array(values, dtype="str")
    codes = np.asarray(codes, dtype=np.int64)
    return pd.array(pc.take(_pa(values), pa.array(codes, mask=codes < 0)), dtype="str")


def _stamps(days: np.ndarray, end: float) -> pd.api.extensions.ExtensionArray:
    """float days -> datetime64[us, UTC]; anything after ``end`` (or inf) becomes NaT."""
    ok = np.isfinite(days) & (days <= end)
    us = np.where(ok, np.round(np.where(ok, days, 0.0) * _DAY_US), 0).astype(np.int64)
    values = us.view("M8[us]").copy()
    values[~ok] = np.datetime64("NaT")
    return pd.array(pd.DatetimeIndex(values).tz_localize("UTC"), dtype=schema.TIMESTAMP_DTYPE)


def _ints(values: np.ndarray, present: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.IntegerArray(values.astype(np.int64), ~present)


def _id_width(n: int) -> int:
    return max(7, len(str(n)))


def _activities_frame(events: tuple[np.ndarray, ...], people: _People, ids: _Ids,
                      vocab: _Vocabulary, cal: _Calendar, start: int, offset: int,
                      st: _Streams) -> pd.DataFrame:
    """One chunk's events as canonical rows, ordered by (lead, time, type); ids continue."""
    lead, t, kind, channel, prop = events
    keep = t <= cal.end
    lead, t, kind, channel, prop = lead[keep], t[keep], kind[keep], channel[keep], prop[keep]
    order = np.lexsort((kind, t, lead))
    lead, t, kind, channel, prop = lead[order], t[order], kind[order], channel[order], prop[order]
    glead = lead + start
    account = people.account[glead]
    anonymous = (kind == _T["page_view"]) & (account >= 0) & st.bern(lead, 0.03)
    default = np.array([CHANNELS.index(_TYPE_CHANNEL[k]) for k in schema.ACTIVITY_TYPES])
    channel = np.where(channel < 0, default[kind], channel)
    event_ids = _ids("E", offset + 1, len(t), 10)
    return pd.DataFrame({
        "event_id": _text(event_ids),
        "lead_id": _text(ids.lead, np.where(anonymous, -1, glead)),
        "account_id": _text(ids.account, account),
        "occurred_at": _stamps(t, cal.end),
        "type": _text(schema.ACTIVITY_TYPES, kind.astype(np.int64)),
        "channel": _text(CHANNELS, channel.astype(np.int64)),
        "properties": _text(vocab.texts, prop.astype(np.int64)),
    })




@dataclass(frozen=True)
class _Ids:
    lead: pa.Array
    account: pa.Array

    @classmethod
    def build(cls, n_leads: int, n_accounts: int) -> _Ids:
        return cls(_ids("L", 1, n_leads, _id_width(n_leads)), _ids("A", 1, n_accounts, 6))


def _bools(values: np.ndarray, present: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.BooleanArray(values.astype(bool), ~present)


def _accounts_frame(accounts: _Accounts, ids: _Ids) -> pd.DataFrame:
    shown = accounts.shown
    return pd.DataFrame({
        "account_id": _text(ids.account),
        "name": _text(accounts.name),
        "domain": _text(_null_where(~shown["domain"], accounts.domain)),
        "industry": _text(INDUSTRIES, np.where(shown["industry"], accounts.industry, -1)),
        "employees": _ints(accounts.employees, shown["employees"]),
        "annual_revenue": np.where(shown["annual_revenue"], accounts.revenue, np.nan),
        "country": _text(COUNTRIES, accounts.country),
        "region": _text(COUNTRY_REGION, accounts.country),
        "founded_year": _ints(accounts.founded, shown["founded_year"]),
    })


def _lead_status(people: _People, fates: _Fates, end: float) -> np.ndarray:
    """The status of the latest transition up to ``end``; old untouched leads are nurturing."""
    steps = (("new", people.created), ("mql", fates.mql), ("sql", fates.sql),
             ("disqualified", fates.disqualified), ("recycled", fates.recycled),
             ("converted", fates.converted))
    times = np.stack([t for _, t in steps])
    times = np.where(times <= end, times, -np.inf)
    latest = len(steps) - 1 - np.argmax(times[::-1], axis=0)
    status = np.array([_STATUS[name] for name, _ in steps])[latest]
    stale = (status == _STATUS["new"]) & (people.created < end - 30.0)
    return np.where(stale, _STATUS["nurturing"], status)


def _leads_frame(people: _People, fates: _Fates, ids: _Ids, vocab: _Vocabulary,
                 end: float) -> pd.DataFrame:
    owner = np.where(~fates.worked & people.blank_owner, -1, people.owner)
    frame = {
        "lead_id": _text(ids.lead),
        "account_id": _text(ids.account, people.account),
        **{col: _text(people.text[col]) for col in ("email", "name", "job_title",
                                                    "department")},
        "source": _text(schema.LEAD_SOURCES, people.source),
        "owner": _text(INSIDE_SALES_JP + INSIDE_SALES_GLOBAL, owner),
        "created_at": _stamps(people.created, end),
        "status": _text(schema.LEAD_STATUSES, _lead_status(people, fates, end)),
        "mql_at": _stamps(fates.mql, end),
        "sql_at": _stamps(fates.sql, end),
        "disqualified_at": _stamps(fates.disqualified, end),
        "recycled_at": _stamps(fates.recycled, end),
    }
    for element in ("budget", "authority", "need"):
        at = getattr(fates, f"{element}_at")
        frame[element] = _bools(getattr(people, element), at <= end)
        frame[f"{element}_confirmed_at"] = _stamps(at, end)
    frame["timeline_months"] = np.where(fates.timeline_at <= end, people.timeline, np.nan)
    frame["timeline_confirmed_at"] = _stamps(fates.timeline_at, end)
    frame["attributes"] = _text(vocab.texts, people.attributes)
    return pd.DataFrame(frame)


def _to_currency(usd: np.ndarray, japan: np.ndarray) -> np.ndarray:
    return np.where(japan, np.round(usd * USD_JPY, -3), np.round(usd, -2))


def _deal_tables(batches: list[_Deals], ids: _Ids,
                 end: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Opportunities (current state at ``end``) and their change history."""
    opps, history = [], []
    direct_count = 0
    for deals in batches:
        if np.all(deals.lead < 0):
            opp_ids = _ids("OPP-D", direct_count + 1, len(deals.lead), 6)
            direct_count += len(deals.lead)
        else:
            opp_ids = _cat("OPP-", ids.lead.take(pa.array(deals.lead)))
        o, h = _deal_frames(deals, opp_ids, ids, end)
        opps.append(o)
        history.append(h)
    return pd.concat(opps, ignore_index=True), pd.concat(history, ignore_index=True)


def _deal_frames(deals: _Deals, opp_ids: pa.Array, ids: _Ids,
                 end: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(deals.created)
    last = np.flatnonzero(np.r_[deals.h_deal[1:] != deals.h_deal[:-1], True]) if n else \
        np.zeros(0, dtype=np.int64)
    if len(last) != n:
        raise RuntimeError("internal error: a deal has no history row")
    closed = deals.close <= end
    outcome = np.where(closed, np.where(deals.won, 1, 2), 0)
    all_deals = np.arange(n)
    opportunities = pd.DataFrame({
        "opportunity_id": _text(opp_ids),
        "account_id": _text(ids.account, deals.account),
        "lead_id": _text(ids.lead, deals.lead),
        "owner": _text(ACCOUNT_EXECUTIVES_JP + ACCOUNT_EXECUTIVES_GLOBAL, deals.executive),
        "product": _text(PRODUCTS, deals.product),
        "amount": _to_currency(deals.h_amount[last], deals.japan),
        "currency": _text(("USD", "JPY"), deals.japan.astype(np.int64)),
        "created_at": _stamps(deals.created, end),
        "stage": _text(STAGES, deals.h_stage[last]),
        "expected_close_date": _stamps(deals.h_ecd[last], np.inf),
        "closed_at": _stamps(np.where(closed, deals.close, np.inf), end),
        "outcome": _text(schema.OUTCOMES, outcome),
        "loss_reason": _text(LOSS_REASONS, np.where(outcome == 2, deals.loss_reason, -1)),
    })
    del all_deals
    history = pd.DataFrame({
        "opportunity_id": _text(opp_ids, deals.h_deal),
        "stage": _text(STAGES, deals.h_stage),
        "entered_at": _stamps(deals.h_time, end),
        "amount": _to_currency(deals.h_amount, deals.japan[deals.h_deal]),
        "expected_close_date": _stamps(deals.h_ecd, np.inf),
    })
    return opportunities, history


def _ground_truth_frame(people: _People, ids: _Ids) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": _text(ids.lead),
        "icp_fit": pd.array(people.icp, dtype="boolean"),
        "seniority_level": _text(SENIORITY_LEVELS, people.seniority),
        "latent_interest": people.z.astype(float),
        "p_sql": people.p_sql.astype(float),
        "duplicate_of": _text(ids.lead, people.dup_of),
    })


# ----------------------------------------------------------------------------------------------
# Headline numbers and documentation
# ----------------------------------------------------------------------------------------------

_GROUND_TRUTH_COLUMNS = ("lead_id", "icp_fit", "seniority_level", "latent_interest", "p_sql",
                         "duplicate_of")


def summarize_crm(tables: Tables, ground_truth: pd.DataFrame,
                  end: pd.Timestamp | None = None) -> dict[str, object]:
    """Headline numbers of a generated CRM (pure; reads only the frames).

    Args:
        tables: the canonical tables (as returned by ``generate_crm``).
        ground_truth: the ground-truth frame returned with them.
        end: the CRM's "now"; default the latest created/occurred/closed timestamp. The
            90-day SQL rates count only leads created at least 90 days before it.

    Returns:
        rows per table, activities_per_lead, sql_rate_90d, icp_sql_rate_90d,
        non_icp_sql_rate_90d, icp_sql_ratio, duplicate_share, win_rate, median_days_to_close,
        median_days_to_win, month_end_close_share, status_counts and opportunities_per_month
        ("YYYY-MM" -> deals created).
    """
    _check_summary_inputs(tables, ground_truth)
    leads, opps = tables["leads"], tables["opportunities"]
    end = end if end is not None else _latest_timestamp(tables)
    truth = ground_truth.set_index("lead_id").reindex(leads["lead_id"])
    sql90 = (leads["sql_at"].notna()
             & (leads["sql_at"] <= leads["created_at"] + pd.Timedelta(days=SQL_HORIZON_DAYS)))
    mature = (leads["created_at"] <= end - pd.Timedelta(days=SQL_HORIZON_DAYS)).to_numpy()
    icp = truth["icp_fit"].fillna(False).to_numpy(dtype=bool)
    rate = lambda mask: float(sql90[mask].mean()) if mask.any() else float("nan")
    icp_rate, non_rate = rate(mature & icp), rate(mature & ~icp)
    return {
        "rows": {name: len(frame) for name, frame in tables.items()},
        "activities_per_lead": len(tables["activities"]) / max(len(leads), 1),
        "sql_rate_90d": rate(mature),
        "icp_sql_rate_90d": icp_rate,
        "non_icp_sql_rate_90d": non_rate,
        "icp_sql_ratio": icp_rate / non_rate if non_rate > 0 else float("nan"),
        "duplicate_share": float(truth["duplicate_of"].notna().mean()) if len(leads) else 0.0,
        "status_counts": leads["status"].value_counts().to_dict(),
        **_summarize_deals(opps),
    }


def _check_summary_inputs(tables: Tables, ground_truth: pd.DataFrame) -> None:
    missing = [name for name in schema.TABLES if name not in tables]
    if missing:
        raise ValueError(f"tables is missing {missing}; expected {sorted(schema.TABLES)}")
    absent = [c for c in _GROUND_TRUTH_COLUMNS if c not in ground_truth.columns]
    if absent:
        raise ValueError(f"ground_truth is missing columns {absent}")


def _latest_timestamp(tables: Tables) -> pd.Timestamp:
    stamps = [tables["leads"]["created_at"].max(), tables["activities"]["occurred_at"].max(),
              tables["opportunities"]["closed_at"].max()]
    stamps = [s for s in stamps if pd.notna(s)]
    if not stamps:
        raise ValueError("tables hold no timestamps; pass end explicitly")
    return max(stamps)


def _summarize_deals(opps: pd.DataFrame) -> dict[str, object]:
    closed = opps[opps["outcome"] != "open"]
    won = closed["outcome"] == "won"
    days = (closed["closed_at"] - closed["created_at"]).dt.total_seconds() / 86_400
    month_end = (closed["closed_at"].dt.days_in_month - closed["closed_at"].dt.day) < 5
    per_month = opps["created_at"].dt.strftime("%Y-%m").value_counts().sort_index()
    return {
        "win_rate": float(won.mean()) if len(closed) else float("nan"),
        "median_days_to_close": float(days.median()) if len(closed) else float("nan"),
        "median_days_to_win": float(days[won].median()) if won.any() else float("nan"),
        "month_end_close_share": float(month_end.mean()) if len(closed) else float("nan"),
        "opportunities_per_month": {str(k): int(v) for k, v in per_month.items()},
    }


def _pairs(names: tuple[str, ...], values: tuple[float, ...]) -> str:
    return ", ".join(f"{n} {v:g}" for n, v in zip(names, values))


def describe_ground_truth() -> str:
    """The generating story and its exact equations, in Markdown (for the README)."""
    b0, b_size, b_z = BUDGET_COEF
    n0, n_icp, n_z = NEED_COEF
    t_med, t_z, t_icp, t_sd = TIMELINE_COEF
    w0, w_icp, w_z, w_amt = WIN_COEF
    weights = ", ".join(f"{k} {v:+d}" for k, v in ENGAGEMENT_WEIGHTS.items())
    return _rewrap(f"""\
## The sample CRM: generating story and hidden ground truth

`leadscore generate` simulates a B2B SaaS vendor's CRM. Everything below is drawn with numpy
from `GeneratorConfig.seed`; `σ` is the logistic function, `softplus(x) = ln(1 + eˣ)`,
`N(μ, σ²)` a normal draw, `Bern(p)` a coin with probability p. Times are UTC; nothing happens
after `config.end` (2026-10-31T23:59:59Z by default), so recent leads are *censored*.

### Accounts (max(50, n_leads / {GeneratorConfig.leads_per_account:g}))
- country ~ {_pairs(COUNTRIES, COUNTRY_P)}; region: JP → JP; SG, AU, KR, IN → APAC;
  US, CA → NA; GB, DE, FR → EMEA.
- industry ~ {_pairs(INDUSTRIES, INDUSTRY_P)}.
- employees = clip(round(exp(N(ln 150, {EMPLOYEES_LOG_SD:g}²))), 2, 300000);
  annual_revenue (USD) = employees × revenue-per-employee(industry) × exp(N(0, 0.4²)).
- founded_year = end.year − round(Gamma(2, 6 + 4·log10(employees))) (× 1.4 for JP).
- Names from word lists: `株式会社` / `有限会社` + kanji stem / katakana word + industry suffix
  for JP (e.g. `東洋精機株式会社`, `株式会社サンプル技研`), `<Prefix><suffix> <Industry word>
  <legal form>` elsewhere (e.g. `Bluepeak Analytics Inc.`); domains romanised and unique.
- Hidden: account effect a ~ N(0, {ACCOUNT_EFFECT_SD:g}²) shared by its leads; lead
  attraction ∝ employees^0.35 × LogNormal(0, 0.8).
- Shown missing (dirty but valid): domain 3%, industry 4%, employees 8%, revenue 20%,
  founded_year 12%.

### Leads
- {NO_ACCOUNT_SHARE:.0%} have no account (free-mail individuals); the others pick an account by
  attraction. source ~ {_pairs(schema.LEAD_SOURCES, LEAD_SOURCE_P)}.
- created_at: calendar days weighted by growth e^(ln 1.4 · years) × weekday (Mon–Fri ≈ 1.1,
  Sat 0.25, Sun 0.15) × 0.3 in Japanese holiday seasons, at a local office hour; webinar leads
  register up to 10 days before a bi-weekly Thursday webinar, exhibition leads are scanned at a
  3-day exhibition booth. lead_id follows created_at.
- Person: Japanese if the account is in JP (4% flipped); seniority ~
  {_pairs(SENIORITY_LEVELS, SENIORITY_P)} (25% executives below 50 employees); department ~
  {_pairs(DEPARTMENTS, DEPARTMENT_P)}. Titles like `営業部 部長`, `情報システム部 課長`,
  `代表取締役社長`, `VP of Sales`, `Head of IT`; e-mail on the account domain (6% free-mail).
- Owner: one of {len(INSIDE_SALES_JP)} Japanese or {len(INSIDE_SALES_GLOBAL)} global
  inside-sales reps (by language); rep skill shifts the call-connect log-odds.

### Hidden ground truth (returned as the ground-truth frame)
- **icp_fit** = industry ∈ {{{', '.join(ICP_INDUSTRIES)}}} ∧ {ICP_EMPLOYEES[0]} ≤ employees ≤
  {ICP_EMPLOYEES[1]} ∧ region ∈ {{{', '.join(ICP_REGIONS)}}} ∧ seniority ∈
  {{{', '.join(ICP_SENIORITY)}}} (true employees, even where the CRM shows them missing;
  leads without an account never fit).
- **latent_interest** z = {Z_ICP:g}·icp + source effect ({_pairs(schema.LEAD_SOURCES,
  SOURCE_EFFECT)}) + {Z_DEPT:g}·[department ∈ sales, marketing, it] + a_account + N(0,
  {Z_NOISE_SD:g}²). A duplicate record has its original's z − 0.3.
- True BANT: authority ~ Bern({_pairs(SENIORITY_LEVELS, AUTHORITY_P)});
  budget ~ Bern(σ({b0:g} + {b_size:g}·log10(employees/100) + {b_z:g}·z));
  need ~ Bern(σ({n0:g} + {n_icp:g}·icp + {n_z:g}·z));
  timeline = exp(N(ln {t_med:g} {t_z:+g}·z {t_icp:+g}·icp, {t_sd:g}²)) months, snapped to
  {{{', '.join(f'{t:g}' for t in TIMELINE_CHOICES)}}}.
  bant_ok = timeline ≤ 3 ∧ budget + authority + need ≥ 2 (the ≥3-of-4 rule with timeline).
- **p_sql** (probability of SQL within {SQL_HORIZON_DAYS:g} days of creation, ignoring
  censoring) = bant_ok · σ({SQL_B0:g} + {SQL_ICP:g}·icp + {SQL_Z:g}·z +
  {SQL_INTERACTION:g}·icp·softplus(z)). The SQL draw is Bern(p_sql); its time is created_at +
  {SQL_HORIZON_DAYS:g}·Beta(1.5, b) days, b = 6 for inbound form/chat/referral, else 3.5.
  ICP × engagement × BANT interact: without bant_ok nothing converts; z matters more for ICP.
  Realised: ICP-fit leads reach SQL ≈ 3× as often as others.
- **duplicate_of**: `duplicate_rate` of leads are the same person entered again later.

### Activities (rates scale with `activities_per_lead` / 20)
- Web sessions: Poisson process with rate ({WEB_SESSIONS:g}·e^(0.6z)/{WEB_TAU_DAYS:g})·
  e^(−t/{WEB_TAU_DAYS:g}) after creation plus a background {WEB_BACKGROUND_PER_DAY:g}·e^(0.4z)
  per day; each session has 1 + Poisson({PAGES_PER_SESSION:g}) page views, a pricing page
  with σ(−2.6 + 0.7z + 0.6·icp), downloads, forms, rare demo requests (σ(−5.5 + 0.8z +
  0.6·icp)). Inbound/organic/ads/chat leads also have anonymous visits in the 14 days before
  creation (stitched to the lead).
- Nurture e-mails: Poisson({NURTURE_EMAILS_PER_DAY:.3f}/day) for {NURTURE_DAYS:g} days, sent
  Tue/Thu 10:00 local; open σ(−1 + 0.5z), click | open σ(−1.2 + 0.6z) (→ a page view);
  unsubscribe after Exp(400·e^(0.5z)) days stops them; 2% of addresses bounce.
- Webinars (Poisson({WEBINARS_PER_YEAR:g}·e^(0.5z)) per year, attend σ(0.2 + 0.5z)) and
  exhibitions ({EXHIBITIONS_PER_YEAR:g}·e^(0.3z) per year) are followed by browsing bursts
  (Poisson(1.2·e^(0.3z)) sessions, Exp(2–3 days) later). Chats: Poisson(0.1·e^(0.5z)),
  decaying.
- Before every SQL: 1 + Poisson(2·e^(0.2z)) high-intent events (pricing {_RAMP_P[0]:g}, demo
  request {_RAMP_P[1]:g}, e-mail reply {_RAMP_P[2]:g}, download {_RAMP_P[3]:g}, page view
  {_RAMP_P[4]:g}, form {_RAMP_P[5]:g}) at sql_at − truncated Exp(6 days), plus a meeting_booked.
  High-intent types: {', '.join(HIGH_INTENT_TYPES)}.
- Inside sales dials 1 + Poisson(2.5) times in a 21-day work window (SQLs: Poisson(2) before
  sql_at plus the qualifying call or meeting at sql_at), weekdays 9:30–18:00 local; connect
  σ(−0.8 + 0.4z + rep skill). Sales e-mails Poisson(1.5), reply σ(−2 + 0.8z). During open
  deals: meetings and replies (after SQL — point-in-time bait).
- 3% of page views are anonymous (account only). event_id = E + 10-digit sequence in
  (lead, time, type) order.

### Status
- mql_at: first time the running engagement score ({weights}) reaches {MQL_THRESHOLD:g}.
- Work starts Exp(1.5 d) after creation for {', '.join(HOT_SOURCES)} leads, Exp(1 d) after
  MQL otherwise. Each BANT element is confirmed (value = truth, time = a connected call);
  SQLs confirm every true element and the timeline at sql_at.
- Not qualified after the window: disqualified w.p. 0.7 if a confirmed fact rules them out
  (no need, or neither budget nor authority, or a bounced address), else 0.04; otherwise
  recycled w.p. 0.6 (recycled_at 3–30 days later). 35% of recycled leads re-engage after
  day {SQL_HORIZON_DAYS:g} (browsing burst); bant_ok ones then qualify w.p. 0.5 (a late SQL).
- status = the latest of new/mql/sql/disqualified/recycled/converted up to end; untouched
  leads older than 30 days are nurturing.

### Opportunities
- 90% of SQLs become a deal Gamma(2, 1.5 days) later (the rest are recycled); plus
  {GeneratorConfig.direct_opportunity_rate:g} direct deals per lead (no lead, account ICP).
- product by size (<100, <1000, ≥1000 employees) from {', '.join(PRODUCTS)} with base
  {', '.join(f'${v:,.0f}' for v in PRODUCT_BASE_USD)}; amount_usd = base ×
  (employees/300)^0.15 × LogNormal(0, 0.45²). Currency: JPY (× {USD_JPY:g}, rounded to ¥1,000)
  for Japanese accounts, USD otherwise.
- won ~ Bern(σ({w0:g} + {w_icp:g}·icp + {w_z:g}·z {w_amt:+g}·ln(amount_usd/24000))); lost
  deals stop at {_pairs(STAGES[:4], LOST_AT_STAGE_P)}.
- cycle = LogNormal(ln {CLOSE_MEDIAN_DAYS:g} + 0.2·ln(amount_usd/24000), 0.5²) days split over
  prospecting → qualification → proposal → negotiation by Dirichlet(2, 2, 2, 2). Month-end
  push: w.p. {MONTH_END_PUSH_P[0]:g} (won) / {MONTH_END_PUSH_P[1]:g} (lost) the close moves to
  one of the month's last 5 days; w.p. {QUARTER_END_PUSH_P:g} a won deal slips to its quarter's
  last month.
- expected_close_date = month end of created + cycle × LogNormal(−0.25, 0.3²) (optimistic);
  whenever it passes with the deal open it moves 1 (80%) or 2 months on. 10% of deals that
  reach proposal regress to qualification and come back; amounts are re-scoped at proposal
  (20%) and discounted 3–20% at negotiation (40%). Every change is a row of
  opportunity_stage_history. Open deals at `end` have outcome open; their expected close date
  may lie after `end` (it is a plan, not an event).

### Near-duplicates and dirty-but-valid values
- A duplicate copies its original's person and account and differs in name form (spacing,
  full-width katakana, half-width ｶﾀｶﾅ, romaji, `SMITH, John`, full-width Ｌａｔｉｎ), e-mail
  (same, capitalised, free-mail or missing) and title; it is created later.
- Titles with full-width spaces, double spaces or full-width letters (3–4%), missing titles
  (4%), departments `n/a`, `-`, `不明`, `その他` (3%) or missing (10%), missing e-mails (2%).
""")


def _rewrap(markdown: str, width: int = 96) -> str:
    """Re-flow paragraphs and bullets (headings and blank lines stay as they are)."""
    blocks: list[list[str]] = []
    for line in markdown.splitlines():
        starts_block = not line.strip() or line.startswith(("#", "- ")) or not blocks
        if starts_block or not blocks[-1] or blocks[-1][0].startswith("#"):
            blocks.append([line] if line.strip() else [])
        else:
            blocks[-1].append(line.strip())
    out = []
    for block in blocks:
        text = " ".join(block)
        bullet = text.startswith("- ")
        out.append(text if text.startswith("#") or not text else textwrap.fill(
            text, width, subsequent_indent="  " if bullet else "",
            break_long_words=False, break_on_hyphens=False))
    return "\n".join(out) + "\n"
