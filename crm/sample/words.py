"""Word lists for names, companies, titles and places (no external data)."""

from __future__ import annotations

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
