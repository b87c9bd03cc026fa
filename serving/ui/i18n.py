"""The page's words in English and Japanese (reasons come translated from the scorer)."""

from __future__ import annotations

from typing import Literal, Mapping

Language = Literal["en", "ja"]
LANGUAGES: tuple[Language, ...] = ("en", "ja")

STRINGS: dict[str, tuple[str, str]] = {
    # key: (English, Japanese)
    "title": ("leadscore", "leadscore"),
    "nav_priority": ("Priority list", "優先リスト"),
    "nav_forecast": ("Forecast", "着地予測"),
    "nav_model": ("Model", "モデル"),
    "nav_funnel": ("Funnel", "ファネル"),
    "nav_plan": ("KPI plan", "KPI逆算"),
    "nav_recycle": ("Recycling", "リサイクル"),
    "nav_dedupe": ("Duplicates", "名寄せ"),
    "sign_in": ("Sign in", "サインイン"),
    "sign_out": ("Sign out", "サインアウト"),
    "api_key": ("API key", "APIキー"),
    "login_help": ("Type the service's API key. It is checked once; the browser then keeps a "
                   "signed session cookie (the key is never put in a URL).",
                   "サービスのAPIキーを入力してください。一度だけ照合し、以後は署名付きの"
                   "セッションCookieを使います（キーをURLに含めることはありません）。"),
    "login_failed": ("That key is not valid.", "キーが正しくありません。"),
    "as_of": ("as of", "基準日"),
    "open_leads": ("open leads", "件の未対応リード"),
    "rank": ("#", "順位"),
    "lead": ("Lead", "リード"),
    "company": ("Company", "会社"),
    "score": ("Score", "スコア"),
    "grade": ("Grade", "グレード"),
    "action": ("Action", "アクション"),
    "owner": ("Owner", "担当"),
    "source": ("Source", "流入元"),
    "icp_tier": ("ICP tier", "ICPティア"),
    "reasons": ("Top reasons", "主な理由"),
    "all": ("all", "すべて"),
    "filter": ("Filter", "絞り込み"),
    "page": ("Page", "ページ"),
    "previous": ("previous", "前へ"),
    "next": ("next", "次へ"),
    "changes": ("What changed since yesterday", "昨日からの変化"),
    "score_jumps": ("Score jumped by {n} points or more (buying-timing alert)",
                    "スコアが{n}点以上上昇（購買タイミングのアラート）"),
    "crossed_sql": ("Crossed the SQL rule (BANT ≥ 3 of 4, decision within 3 months)",
                    "SQL条件を満たした（BANT 4項目中3項目以上、3か月以内に意思決定）"),
    "none": ("none", "なし"),
    "yesterday": ("yesterday", "昨日"),
    "today": ("today", "今日"),
    "scored_by": ("Scored by", "採点"),
    "rules_fallback": ("the rules (no model: {reason})", "ルール（モデルなし: {reason}）"),
    "score_history": ("Score history", "スコア履歴"),
    "contributions": ("Why this score", "スコアの理由"),
    "timeline": ("Activity timeline", "活動履歴"),
    "bant": ("BANT as confirmed", "確認済みBANT"),
    "bant_budget": ("Budget", "予算"),
    "bant_authority": ("Authority", "決裁権"),
    "bant_need": ("Need", "必要性"),
    "bant_timeline": ("Timeline", "導入時期"),
    "confirmed_on": ("confirmed {date}", "{date} 確認"),
    "not_confirmed": ("not confirmed", "未確認"),
    "yes": ("yes", "あり"),
    "no": ("no", "なし"),
    "months": ("{n} months", "{n}か月"),
    "handoff": ("Hand-off package for field sales", "フィールドセールスへのトスアップ資料"),
    "handoff_not_sql": ("Not sales-qualified yet: the hand-off package appears once the lead is "
                        "SQL.", "まだSQLではありません。SQLになるとトスアップ資料が表示されます。"),
    "company_overview": ("Company overview", "会社概要"),
    "key_persons": ("Key persons at the account", "アカウントの主要人物"),
    "how_it_came_in": ("How the lead came in", "流入経路"),
    "engagement": ("What it engaged with (last 90 days)", "反応したコンテンツ（直近90日）"),
    "open_concerns": ("Open concerns", "懸念事項"),
    "open_deals": ("Open deals at the account", "アカウントの商談"),
    "download": ("Download", "ダウンロード"),
    "date": ("Date", "日付"),
    "type": ("Type", "種別"),
    "channel": ("Channel", "チャネル"),
    "title_col": ("Title", "役職"),
    "department": ("Department", "部署"),
    "status": ("Status", "ステータス"),
    "name": ("Name", "氏名"),
    "count": ("Count", "件数"),
    "industry": ("Industry", "業種"),
    "employees": ("Employees", "従業員数"),
    "revenue": ("Annual revenue (USD)", "年商（USD）"),
    "country": ("Country / region", "国・地域"),
    "domain": ("Domain", "ドメイン"),
    "created": ("Created", "作成日"),
    "first_touches": ("First touches", "最初の接点"),
    "forecast_title": ("Landing forecast", "着地予測"),
    "month": ("Month", "月"),
    "quarter": ("Quarter", "四半期"),
    "target": ("Target", "目標"),
    "expected": ("Expected", "期待値"),
    "booked": ("Booked", "受注済み"),
    "pipeline": ("Pipeline", "パイプライン"),
    "new_deals": ("New deals", "新規商談"),
    "breakdown": ("Booked / pipeline / new", "受注済み / パイプライン / 新規"),
    "top_deals": ("Top deals", "主要商談"),
    "slipping": ("Slipping deals", "遅延リスクの商談"),
    "alert": ("Alert", "アラート"),
    "on_track": ("On track against the target", "目標に対して順調"),
    "no_target": ("No target given", "目標未設定"),
    "deal": ("Deal", "商談"),
    "stage": ("Stage", "ステージ"),
    "amount": ("Amount", "金額"),
    "close_date": ("Expected close", "受注予定日"),
    "p_win": ("P(win)", "受注確率"),
    "expected_value": ("Expected value", "期待金額"),
    "slip_value": ("Expected slip", "遅延見込み額"),
    "forecast_unavailable": ("No forecast: {error}", "予測できません: {error}"),
    "model_title": ("Models", "モデル"),
    "champion": ("Champion", "チャンピオン"),
    "challenger": ("Challenger", "チャレンジャー"),
    "serving": ("Serving now", "現在の提供状況"),
    "version": ("Version", "バージョン"),
    "metric": ("Metric", "指標"),
    "calibration": ("Calibration (test slice)", "キャリブレーション（テスト期間）"),
    "lift": ("Lift by decile (test slice)", "デシル別リフト（テスト期間）"),
    "segments": ("Segment gaps (ROC AUC by segment)", "セグメント別の差（ROC AUC）"),
    "fallback": ("What the fallback is doing", "フォールバックの状況"),
    "rule_answers": ("Rule answers since start, by reason", "起動後のルール回答数（理由別）"),
    "no_rule_answers": ("The rules have not answered since the service started.",
                        "起動後、ルールによる回答はありません。"),
    "drift": ("Drift summary", "ドリフト概要"),
    "drift_text": ("Score distribution of today's open leads against the champion's test slice",
                   "本日の未対応リードのスコア分布（チャンピオンのテスト期間との比較）"),
    "not_registered": ("not registered", "未登録"),
    "segment": ("Segment", "セグメント"),
    "rows": ("Rows", "件数"),
    "gap": ("Gap to overall", "全体との差"),
    "observed": ("observed", "実績"),
    "predicted": ("predicted", "予測"),
    "language": ("日本語", "English"),
    "shap_note": ("Bars: each reason's push on the model's log-odds (before calibration), so they "
                  "do not add up to the probability.",
                  "棒グラフ：各理由がモデルの対数オッズ（キャリブレーション前）に与えた影響。"
                  "確率の合計にはなりません。"),
    "actionable": ("actionable", "働きかけ可能"),
    # the leader's reports
    "funnel_title": ("Funnel", "ファネル"),
    "period": ("Period", "期間"),
    "period_length": ("Period length", "期間の単位"),
    "freq_M": ("month", "月"),
    "freq_Q": ("quarter", "四半期"),
    "freq_W": ("week", "週"),
    "stage_lead": ("Lead", "リード"),
    "stage_mql": ("MQL", "MQL"),
    "stage_sql": ("SQL", "SQL"),
    "stage_opportunity": ("Opportunity", "商談"),
    "stage_won": ("Won", "受注"),
    "by_stage": ("Conversion by stage", "ステージ別転換率"),
    "by_source": ("By source", "流入元別"),
    "by_owner": ("By owner", "担当別"),
    "entered": ("Entered", "流入数"),
    "conversion": ("Conversion", "転換率"),
    "last_period": ("Last period", "前期間"),
    "history": ("History", "過去平均"),
    "change_vs_history": ("vs history", "過去比"),
    "days_in_stage": ("Median days in stage", "滞留日数（中央値）"),
    "bottleneck": ("bottleneck", "ボトルネック"),
    "bottleneck_text": ("Bottleneck: {stage} → {next} converts {conversion} against {history} over "
                        "the previous periods ({change}); last period {last}.",
                        "ボトルネック: {stage} → {next} の転換率は {conversion}（過去平均 {history}、"
                        "{change}）。前期間は {last}。"),
    "no_bottleneck": ("No stage converts worse than its history.",
                      "過去平均より悪化したステージはありません。"),
    "conversion_history": ("Conversion by period", "期間別の転換率"),
    "funnel_note": ("Conversion = entries into the next stage in the period / entries into this "
                    "stage in the period: a flow ratio, so a stage fed by earlier periods can "
                    "pass 100%.",
                    "転換率 = 期間内に次ステージへ進んだ数 / 期間内にこのステージに入った数。"
                    "フローの比率のため、前の期間からの流入が多いと100%を超えることがあります。"),
    "plan_title": ("KPI reverse plan", "KPI逆算プラン"),
    "revenue_target": ("Revenue target", "売上目標"),
    "plan_help": ("Type the month's revenue target: the plan works back to the wins, deals, SQLs, "
                  "MQLs, leads and calls it needs, from the conversion rates measured over the "
                  "previous months.",
                  "月の売上目標を入力してください。過去数か月の実績転換率から、必要な受注数・商談数・"
                  "SQL数・MQL数・リード数・架電数を逆算します。"),
    "plan_summary": ("Target {target} {currency}; actuals as of {as_of} ({elapsed} of the month); "
                     "rates measured {start} .. {end}.",
                     "目標 {target} {currency}。実績は {as_of} 時点（月の {elapsed} 経過）。"
                     "転換率は {start}〜{end} の実績。"),
    "plan_required": ("What the target needs", "目標に必要な数"),
    "required": ("Required", "必要数"),
    "actual": ("Actual", "実績"),
    "remaining": ("Remaining", "残り"),
    "expected_by_now": ("Expected by now", "現時点の目安"),
    "on_pace": ("On pace", "ペース"),
    "measured_rates": ("Measured rates", "実績の転換率"),
    "kpi_revenue": ("Revenue", "売上"),
    "kpi_wins": ("Wins", "受注数"),
    "kpi_opportunities": ("Opportunities", "商談数"),
    "kpi_sqls": ("SQLs", "SQL数"),
    "kpi_mqls": ("MQLs", "MQL数"),
    "kpi_leads": ("Leads", "リード数"),
    "kpi_connected_calls": ("Connected calls", "通話数"),
    "kpi_dials": ("Dials", "架電数"),
    "recycle_title": ("Recycling: lost and held leads whose score rose",
                      "リサイクル: スコアが上がった失注・保留リード"),
    "reengagement_text": ("Re-engagement: {requalified} of {cohort} recycled leads requalified "
                          "({rate}; target ≥ {target}).",
                          "再活性化: リサイクルしたリード {cohort} 件中 {requalified} 件が再び"
                          "有望化（{rate}、目標 {target} 以上）。"),
    "reengaged_text": ("{rate} showed high intent again.", "{rate} が再び高い関心を示しました。"),
    "recycle_candidates": ("{n} of {held} held leads rose", "保留中 {held} 件のうち {n} 件が上昇"),
    "held_since": ("Held since", "保留開始"),
    "score_then": ("Score then", "以前のスコア"),
    "rise": ("Rise", "上昇"),
    "dedupe_title": ("Duplicates (名寄せ)", "名寄せ（重複）"),
    "match_threshold": ("Match threshold", "一致しきい値"),
    "records": ("Records", "件数"),
    "matching_pairs": ("Matching pairs", "一致ペア"),
    "duplicate_rate": ("Duplicate rate", "重複率"),
    "met": ("met", "達成"),
    "not_met": ("not met", "未達"),
    "entity_leads": ("Leads", "リード"),
    "entity_accounts": ("Accounts", "企業"),
    "merge_suggestions": ("Merge suggestions ({n})", "統合候補（{n}件）"),
    "keep": ("Keep", "残す"),
    "merge": ("Merge into it", "統合する"),
    "match_score": ("Match", "一致度"),
    "evidence": ("Evidence", "根拠"),
    "fixed": ("fixed", "固定"),
}

ACTIONS: dict[str, tuple[str, str]] = {
    "call_now": ("call now", "今すぐ架電"),
    "nurture": ("nurture", "ナーチャリング"),
    "recycle": ("recycle", "リサイクル"),
    "disqualify": ("disqualify", "対象外"),
}


def translator(language: Language) -> Mapping[str, str]:
    """The page's strings in ``language`` (``en`` or ``ja``), by key."""
    position = LANGUAGES.index(language)
    words = {key: pair[position] for key, pair in STRINGS.items()}
    words.update({f"action_{key}": pair[position] for key, pair in ACTIONS.items()})
    return words


def pick_language(requested: str | None, cookie: str | None,
                  accept_language: str | None) -> Language:
    """The page's language: ``?lang=``, then the language cookie, then Accept-Language."""
    for choice in (requested, cookie):
        if choice in LANGUAGES:
            return choice  # type: ignore[return-value]
    from serving.runtime import resolve_language

    return resolve_language(None, accept_language)  # type: ignore[return-value]
