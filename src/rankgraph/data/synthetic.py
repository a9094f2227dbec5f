"""The synthetic cross-domain world: RankGraph's default data and the ground truth of its tests.

A planted-structure world, so a test can ask "did the model recover what we planted?"
rather than "did the loss go down?". Everything is vectorised numpy, drawn from one seed,
and streamed by user chunks to Parquet, so memory stays bounded for 100M-event worlds.

What is planted
---------------
- K latent topics with a Zipf-like size prior. Each **user** has a sparse interest mixture
  over 1-4 topics (``theta``, rows sum to 1) that is **shared across domains**, and drifts
  slowly: at fraction ``t`` of the time span the interest is ``(1 - d t) theta + d t e_psi``
  (``d = drift``, ``psi`` one new topic per user).
- Each **item** (post, video, ad) has a topic vector with a primary topic (weight 0.6-0.9)
  and a secondary one (the rest), and a heavy-tailed (Pareto) popularity. Ads belong to
  one **advertiser**; an advertiser focuses on 1-2 topics and its ads' primary topics come
  from that focus.
- Engagement: a user's click lands in a domain (from the user's domain preferences), then
  with probability ``1 - explore`` on an item whose primary topic is drawn from the user's
  current interest (weighted by popularity within that domain and topic), otherwise on a
  popular item of the domain. Follow-up events need a click first and rise with the
  affinity ``a = theta_u(t) . phi_i``: ``like/comment/share`` on posts and videos,
  ``convert`` on ads (rarer and steeper in ``a``). So engaged pairs have a much higher
  affinity than random pairs, and strong events (like, share, convert) higher still.
- **Single-domain users** (``single_domain_fraction``): before their switch time (drawn in
  ``switch_window``, a fraction of the time span) they engage only their home domain (one
  of feed/groups/reels/watch); afterwards half of their clicks go to a second domain of the
  *other* item type (posts <-> videos). The default window straddles the start of the last
  week, the evaluation cut written into ``rankgraph.yaml``, so part of them meet their new
  domain only in the test period: recommending there needs cross-domain transfer.
- ``follows`` (user -> user) are homophilous: with probability ``homophily`` the followee
  shares a topic drawn from the follower's interests, otherwise it is uniform.
- Features are noisy views of the latent structure: user ``country`` and ``age_bucket`` are
  weakly tied to the primary topic; item ``tags`` are a noisy multi-hot list of topic tags
  (``t07``); item ``content`` is ``phi @ W + noise`` (``dense_dim``-d float32).

Domains (surfaces) per item type
--------------------------------
``post``: ``feed``, ``groups``; ``video``: ``reels``, ``watch``; ``ad``: ``ads_feed``,
``ads_reels``. Each item lives in exactly one domain.

Ids
---
Disjoint int64 ranges per node type: ``id = ID_BASE[type] + row`` with ``ID_BASE`` =
user 0, post 1e12, video 2e12, ad 3e12, advertiser 4e12. Row ``r`` of every node table and
truth array is the node with id ``ID_BASE[type] + r``.

Output layout (``DIR``)
-----------------------
- ``events.parquet``: canonical events (user_id int64, item_id int64, item_type, domain,
  event, ts int64 unix seconds, value float64 = 1.0), one row group per user chunk, sorted
  by user then ts within a chunk. Time span: ``weeks`` weeks ending at ``end_ts``.
- ``nodes/user.parquet``: id, country, age_bucket.
  ``nodes/{post,video}.parquet``: id, domain, tags (list<string>), content
  (fixed_size_list<float32>[dense_dim]). ``nodes/ad.parquet``: the same plus advertiser_id.
  ``nodes/advertiser.parquet``: id, tags.
- ``edges/follows.parquet`` (src, dst user ids); ``edges/ad_advertiser.parquet`` (src ad id,
  dst advertiser id).
- ``truth/``: ``user_interests.npy`` (float32 [n_user, K], theta at the start),
  ``user_interests_end.npy`` (at the end, after drift), ``{post,video,ad,advertiser}_topics.npy``
  (float32 [n, K]), ``<type>_ids.npy`` (int64, the row order of the arrays above), and
  ``users.parquet`` (id, primary_topic, drift_topic, home_domain, second_domain, switch_ts;
  the last three null for multi-domain users), ``topic_tags.json`` (tag of topic k).
  ``load_truth(DIR)`` reads them back as a ``WorldTruth``.
- ``rankgraph.yaml``: a ready config (``data``, ``graph``, and the last-week cut as
  ``graph.train_until`` and ``evaluate.test_from``) that ``rankgraph.config.load_config``
  reads; paths are relative to ``DIR``.
- ``manifest.json``: kind ``world``, the WorldConfig, counts and file checksums.

Determinism: the same WorldConfig (seed and chunk size included) gives byte-identical
Parquet and ``.npy`` files; each chunk draws from its own ``SeedSequence`` stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from rankgraph.artifact import atomic_dir, write_manifest
from rankgraph.config.base import to_dict
from rankgraph.config.data import DataConfig, FeatureSpec, NodeTableConfig, SideEdgeTableConfig
from rankgraph.config.graph import EngagementRelationConfig, GraphConfig, SemanticRelationConfig
from rankgraph.errors import ArtifactError, ConfigError

ITEM_TYPES = ("post", "video", "ad")
NODE_TYPES = ("user", "post", "video", "ad", "advertiser")
DOMAINS = ("feed", "groups", "reels", "watch", "ads_feed", "ads_reels")
DOMAIN_TYPE = {"feed": "post", "groups": "post", "reels": "video", "watch": "video",
               "ads_feed": "ad", "ads_reels": "ad"}
EVENTS = ("click", "like", "comment", "share", "convert")
ID_BASE = {"user": 0, "post": 10**12, "video": 2 * 10**12, "ad": 3 * 10**12, "advertiser": 4 * 10**12}
COUNTRIES = ("US", "BR", "IN", "ID", "MX", "PH", "VN", "GB", "DE", "FR", "NG", "EG")
AGE_BUCKETS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")
ENGAGEMENT_WEIGHTS = {
    "post": {"click": 1.0, "like": 2.0, "comment": 3.0, "share": 4.0},
    "video": {"click": 1.0, "like": 2.0, "comment": 3.0, "share": 4.0},
    "ad": {"click": 1.0, "convert": 5.0},
}
# Share of clicks per domain for a typical multi-domain user (the Dirichlet mean).
_DOMAIN_BASE = np.array([0.30, 0.14, 0.24, 0.12, 0.12, 0.08])
_NON_AD = 4  # the first four domains are organic (post/video)
_MAX_USER_TOPICS = 4
# Follow-up funnel: P(event | click) = sigmoid(bias + slope * affinity + quality).
_FUNNEL = {  # event: (bias, slope, mean delay in seconds)
    "like": (-3.0, 6.0, 120.0),
    "comment": (-4.5, 6.0, 300.0),
    "share": (-5.0, 6.0, 600.0),
    "convert": (-4.5, 8.0, 3600.0),
}
# SeedSequence stream keys, one per kind of draw, so chunks are independent and reproducible.
_S_ITEMS, _S_USERS, _S_EVENTS, _S_FOLLOWS, _S_GLOBAL = 1, 2, 3, 4, 5


@dataclass
class WorldConfig:
    """Size and shape of a synthetic world. Item counts of None scale with `n_users`."""

    n_users: int = 10_000
    events_per_user: float = 40.0  # mean clicks per user; follow-ups add ~60% more rows
    n_topics: int = 32
    n_posts: int | None = None  # default n_users // 2
    n_videos: int | None = None  # default n_users * 3 // 10
    n_ads: int | None = None  # default n_users // 10
    n_advertisers: int | None = None  # default max(5, n_ads // 20)
    dense_dim: int = 16
    weeks: int = 6
    end_ts: int = 1767571200  # 2026-01-05T00:00:00Z
    drift: float = 0.3
    explore: float = 0.15
    single_domain_fraction: float = 0.2
    switch_window: tuple[float, float] = (0.7, 0.95)
    follows_per_user: float = 8.0
    homophily: float = 0.8
    tag_noise: float = 0.3
    content_noise: float = 0.3
    feature_signal: float = 0.35  # P(country/age follow the primary topic)
    chunk_users: int = 20_000
    seed: int = 0

    def resolved(self) -> WorldConfig:
        """A copy with every scaled count filled in and the values checked."""
        if self.n_users < 2:
            raise ConfigError(f"WorldConfig.n_users = {self.n_users}: need at least 2 users")
        if self.n_topics < 2:
            raise ConfigError(f"WorldConfig.n_topics = {self.n_topics}: need at least 2 topics")
        if self.events_per_user <= 0:
            raise ConfigError(f"WorldConfig.events_per_user = {self.events_per_user}: must be > 0")
        if self.chunk_users < 1:
            raise ConfigError(f"WorldConfig.chunk_users = {self.chunk_users}: must be >= 1")
        if not 1 <= self.weeks <= 400:
            raise ConfigError(f"WorldConfig.weeks = {self.weeks}: must be in [1, 400]")
        lo, hi = self.switch_window
        if not 0.0 <= lo <= hi <= 1.0:
            raise ConfigError(
                f"WorldConfig.switch_window = {self.switch_window}: need 0 <= lo <= hi <= 1")
        for name in ("drift", "explore", "single_domain_fraction", "homophily", "feature_signal"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"WorldConfig.{name} = {v}: must be in [0, 1]")
        n_posts = self.n_posts if self.n_posts is not None else max(20, self.n_users // 2)
        n_videos = self.n_videos if self.n_videos is not None else max(20, self.n_users * 3 // 10)
        n_ads = self.n_ads if self.n_ads is not None else max(10, self.n_users // 10)
        n_adv = self.n_advertisers if self.n_advertisers is not None else max(5, n_ads // 20)
        for name, v in (("n_posts", n_posts), ("n_videos", n_videos), ("n_ads", n_ads)):
            if v < 2:
                raise ConfigError(
                    f"WorldConfig.{name} = {v}: must be >= 2 (at least one item per domain)")
        if n_adv < 1:
            raise ConfigError(f"WorldConfig.n_advertisers = {n_adv}: must be >= 1")
        d = asdict(self)
        d.update(n_posts=n_posts, n_videos=n_videos, n_ads=n_ads, n_advertisers=n_adv,
                 switch_window=(float(lo), float(hi)))
        return WorldConfig(**d)

    def counts(self) -> dict[str, int]:
        r = self.resolved()
        return {"user": r.n_users, "post": r.n_posts, "video": r.n_videos, "ad": r.n_ads,
                "advertiser": r.n_advertisers}  # type: ignore[dict-item]

    @property
    def start_ts(self) -> int:
        return self.end_ts - self.weeks * 7 * 86400


@dataclass
class WorldSummary:
    """What `generate_world` wrote: counts per node type, event, domain and item type."""

    out: Path
    nodes: dict[str, int]
    events: int
    by_event: dict[str, int]
    by_domain: dict[str, int]
    by_item_type: dict[str, int]
    follows: int
    single_domain_users: int
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorldTruth:
    """The planted structure of a generated world, for tests that check recovery.

    `topics[t]` is float32 [n_t, K]: user interests at the start for `user`, topic mixtures
    for items and advertisers; row r is the node with id `ID_BASE[t] + r`.
    """

    topics: dict[str, np.ndarray]
    user_interests_end: np.ndarray
    users: pa.Table  # truth/users.parquet
    topic_tags: list[str]

    def rows(self, node_type: str, ids: np.ndarray) -> np.ndarray:
        """Truth rows of raw ids of one node type."""
        return np.asarray(ids, dtype=np.int64) - ID_BASE[node_type]


def load_truth(world: str | Path) -> WorldTruth:
    """Read `truth/` of a world written by `generate_world` (arrays memory-mapped)."""
    truth = Path(world) / "truth"
    if not (truth / "user_interests.npy").is_file():
        raise ArtifactError(f"{world}: no truth/user_interests.npy (not a generated world?)")
    topics = {"user": np.load(truth / "user_interests.npy", mmap_mode="r")}
    for t in (*ITEM_TYPES, "advertiser"):
        topics[t] = np.load(truth / f"{t}_topics.npy", mmap_mode="r")
    return WorldTruth(
        topics=topics,
        user_interests_end=np.load(truth / "user_interests_end.npy", mmap_mode="r"),
        users=pq.read_table(truth / "users.parquet"),
        topic_tags=json.loads((truth / "topic_tags.json").read_text()),
    )


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Global:
    """World-level draws every chunk needs (topic prior, feature maps, projection)."""

    topic_prior: np.ndarray  # [K]
    topic_country: np.ndarray  # [K] country index each topic leans to
    topic_age: np.ndarray  # [K]
    projection: np.ndarray  # [K, dense_dim]


def _global(cfg: WorldConfig) -> _Global:
    rng = _rng(cfg.seed, _S_GLOBAL)
    k = cfg.n_topics
    prior = 1.0 / np.arange(1, k + 1) ** 0.6
    prior = rng.permutation(prior / prior.sum())
    return _Global(
        topic_prior=prior,
        topic_country=rng.integers(0, len(COUNTRIES), k),
        topic_age=rng.integers(0, len(AGE_BUCKETS), k),
        projection=rng.normal(0.0, 1.0, (k, cfg.dense_dim)),
    )


@dataclass
class _Items:
    """All items of the three item types, indexed globally (post rows, then video, then ad)."""

    type_code: np.ndarray  # [n] 0 post, 1 video, 2 ad
    local: np.ndarray  # [n] row within its type
    domain: np.ndarray  # [n] domain code
    primary: np.ndarray  # [n] topic
    secondary: np.ndarray  # [n] topic
    w1: np.ndarray  # [n] weight of the primary topic
    popularity: np.ndarray  # [n]
    quality: np.ndarray  # [n] item-level like-rate shift
    advertiser: np.ndarray  # [n_ads] advertiser row of each ad
    adv_topics: np.ndarray  # [n_adv, 2] focus topics
    adv_w1: np.ndarray  # [n_adv]
    # Sampling index: items sorted by (domain, primary topic) with cumulative popularity.
    order: np.ndarray
    cum: np.ndarray
    bucket_lo: np.ndarray  # [D*K] first sorted position of the bucket
    bucket_hi: np.ndarray  # [D*K] one past the last (== lo when empty)
    dom_lo: np.ndarray  # [D]
    dom_hi: np.ndarray  # [D]

    def topics_dense(self, rows: np.ndarray, k: int) -> np.ndarray:
        out = np.zeros((len(rows), k), dtype=np.float32)
        idx = np.arange(len(rows))
        out[idx, self.primary[rows]] += self.w1[rows]
        out[idx, self.secondary[rows]] += 1.0 - self.w1[rows]
        return out


def _make_items(cfg: WorldConfig, g: _Global) -> _Items:
    rng = _rng(cfg.seed, _S_ITEMS)
    k = cfg.n_topics
    sizes = [cfg.n_posts, cfg.n_videos, cfg.n_ads]
    n = sum(sizes)  # type: ignore[arg-type]
    type_code = np.repeat(np.arange(3), sizes)
    local = np.concatenate([np.arange(s) for s in sizes])  # type: ignore[arg-type]
    # Each type has two domains: the first (feed / reels / ads_feed) takes ~2/3 of items.
    second = rng.random(n) < 1 / 3
    second[local == 0], second[local == 1] = False, True  # both domains of a type are never empty
    domain = type_code * 2 + second
    # Advertisers focus on two topics (mostly the first); their ads draw primaries from them.
    n_adv = cfg.n_advertisers
    adv_topics = np.stack(
        [rng.choice(k, n_adv, p=g.topic_prior), rng.choice(k, n_adv, p=g.topic_prior)], 1)
    adv_w1 = rng.uniform(0.6, 0.9, n_adv)
    primary = rng.choice(k, n, p=g.topic_prior)
    secondary = rng.integers(0, k, n)
    ads = type_code == 2
    advertiser = rng.integers(0, n_adv, cfg.n_ads)  # type: ignore[arg-type]
    on_focus = rng.random(cfg.n_ads) < 0.85  # type: ignore[arg-type]
    focus_slot = (rng.random(cfg.n_ads) < 0.3).astype(np.int64)  # type: ignore[arg-type]
    primary[ads] = np.where(on_focus, adv_topics[advertiser, focus_slot], primary[ads])
    secondary[ads] = np.where(on_focus, adv_topics[advertiser, 1 - focus_slot], secondary[ads])
    same = secondary == primary
    secondary[same] = (secondary[same] + 1 + rng.integers(0, k - 1, int(same.sum()))) % k
    w1 = rng.uniform(0.6, 0.9, n)
    popularity = 1.0 + rng.pareto(1.3, n)
    quality = rng.normal(0.0, 0.5, n)

    bucket = domain * k + primary
    order = np.argsort(bucket, kind="stable")
    cum = np.cumsum(popularity[order])
    nb = len(DOMAINS) * k
    bucket_lo = np.searchsorted(bucket[order], np.arange(nb), side="left")
    bucket_hi = np.searchsorted(bucket[order], np.arange(nb), side="right")
    dom_sorted = domain[order]
    dom_lo = np.searchsorted(dom_sorted, np.arange(len(DOMAINS)), side="left")
    dom_hi = np.searchsorted(dom_sorted, np.arange(len(DOMAINS)), side="right")
    if np.any(dom_hi == dom_lo):
        empty = [DOMAINS[d] for d in np.flatnonzero(dom_hi == dom_lo)]
        raise ConfigError(f"WorldConfig: no items in domain(s) {empty}; raise n_posts/n_videos/n_ads")
    return _Items(type_code, local, domain, primary, secondary, w1, popularity, quality,
                  advertiser, adv_topics, adv_w1, order, cum, bucket_lo, bucket_hi, dom_lo, dom_hi)


@dataclass
class _Users:
    """One chunk of users: latent interests, domain behaviour and features."""

    ids: np.ndarray  # [c] int64
    topics: np.ndarray  # [c, S] topic of each slot
    weights: np.ndarray  # [c, S] weight (0 for unused slots), rows sum to 1
    primary: np.ndarray  # [c]
    drift_topic: np.ndarray  # [c]
    activity: np.ndarray  # [c] mean 1, heavy-tailed
    domain_cum: np.ndarray  # [c, D] cumulative domain preference
    single: np.ndarray  # [c] bool
    home: np.ndarray  # [c] domain code (valid where single)
    second: np.ndarray  # [c]
    switch: np.ndarray  # [c] fraction of the time span

    def theta(self, k: int) -> np.ndarray:
        out = np.zeros((len(self.ids), k), dtype=np.float32)
        np.add.at(out, (np.arange(len(self.ids))[:, None], self.topics), self.weights)
        return out


def _make_users(cfg: WorldConfig, g: _Global, chunk: int) -> _Users:
    rng = _rng(cfg.seed, _S_USERS, chunk)
    start = chunk * cfg.chunk_users
    c = min(cfg.chunk_users, cfg.n_users - start)
    k = cfg.n_topics
    s = min(_MAX_USER_TOPICS, k)
    # Gumbel top-s: s distinct topics per user drawn by the topic prior, without a loop.
    scores = np.log(g.topic_prior)[None, :] + rng.gumbel(size=(c, k))
    topics = np.argsort(-scores, axis=1)[:, :s]
    n_top = np.minimum(1 + rng.poisson(1.0, c), s)
    raw = rng.gamma(1.0, 1.0, (c, s)) * (np.arange(s)[None, :] < n_top[:, None])
    raw[:, 0] += 1e-3  # never an all-zero row
    # Put the heaviest slot first so slot 0 is the primary topic.
    rank = np.argsort(-raw, axis=1)
    raw = np.take_along_axis(raw, rank, 1)
    topics = np.take_along_axis(topics, rank, 1)
    weights = raw / raw.sum(1, keepdims=True)
    drift_topic = rng.choice(k, c, p=g.topic_prior)
    activity = rng.lognormal(0.0, 0.8, c)
    activity /= np.exp(0.8**2 / 2)  # mean 1
    alpha = 2.0 * _DOMAIN_BASE
    pref = rng.gamma(np.broadcast_to(alpha, (c, len(DOMAINS))), 1.0)
    pref /= pref.sum(1, keepdims=True)
    single = rng.random(c) < cfg.single_domain_fraction
    base = _DOMAIN_BASE[:_NON_AD] / _DOMAIN_BASE[:_NON_AD].sum()
    home = rng.choice(_NON_AD, c, p=base)
    # Second domain: one of the two organic domains of the other item type (post <-> video).
    other_type = 1 - home // 2
    second = other_type * 2 + (rng.random(c) < 1 / 3)
    lo, hi = cfg.switch_window
    switch = rng.uniform(lo, hi, c)
    return _Users(
        ids=np.arange(start, start + c, dtype=np.int64) + ID_BASE["user"],
        topics=topics, weights=weights, primary=topics[:, 0], drift_topic=drift_topic,
        activity=activity, domain_cum=np.cumsum(pref, 1), single=single, home=home,
        second=second, switch=switch,
    )


def _user_features(cfg: WorldConfig, g: _Global, users: _Users,
                   chunk: int) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(cfg.seed, _S_USERS, chunk, 1)
    c = len(users.ids)
    tie = rng.random(c) < cfg.feature_signal
    country = np.where(tie, g.topic_country[users.primary], rng.integers(0, len(COUNTRIES), c))
    tie = rng.random(c) < cfg.feature_signal
    age = np.where(tie, g.topic_age[users.primary], rng.integers(0, len(AGE_BUCKETS), c))
    return country, age


def _categorical(cum: np.ndarray, rows: np.ndarray, r01: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw per event: index j with cum[row, j-1] <= r < cum[row, j].

    One searchsorted over the row-offset flattened CDFs (row i shifted by 2i, so the flat
    array stays sorted) instead of an [events, m] comparison.
    """
    c, m = cum.shape
    flat = (cum + 2.0 * np.arange(c)[:, None]).ravel()
    idx = np.searchsorted(flat, 2.0 * rows + r01, side="right") - rows * m
    return np.clip(idx, 0, m - 1)


def _strings(names: tuple[str, ...] | list[str], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(list(names), pa.string()), pa.array(codes.astype(np.int32)))


def _make_events(cfg: WorldConfig, items: _Items, users: _Users, chunk: int) -> dict[str, np.ndarray]:
    """Clicks then the affinity-driven funnel for one user chunk; arrays of equal length."""
    rng = _rng(cfg.seed, _S_EVENTS, chunk)
    k = cfg.n_topics
    c = len(users.ids)
    n_clicks = np.maximum(1, rng.poisson(cfg.events_per_user * users.activity))
    u = np.repeat(np.arange(c), n_clicks)
    r = len(u)
    t = rng.random(r)

    # Domain: multi-domain users by preference; single-domain users by home / switch.
    dom = _categorical(users.domain_cum, u, rng.random(r))
    single = users.single[u]
    after = t >= users.switch[u]
    to_second = after & (rng.random(r) < 0.5)
    dom = np.where(single, np.where(to_second, users.second[u], users.home[u]), dom)

    # Topic from the drifting interest: the new topic with prob drift * t, else theta's slots.
    topic = users.topics[u, _categorical(np.cumsum(users.weights, 1), u, rng.random(r))]
    drifted = rng.random(r) < cfg.drift * t
    topic = np.where(drifted, users.drift_topic[u], topic)

    # Item: popularity-weighted within (domain, topic); exploration or an empty bucket
    # falls back to popularity within the domain.
    b = dom * k + topic
    lo, hi = items.bucket_lo[b], items.bucket_hi[b]
    explore = (rng.random(r) < cfg.explore) | (hi == lo)
    lo = np.where(explore, items.dom_lo[dom], lo)
    hi = np.where(explore, items.dom_hi[dom], hi)
    cum0 = np.where(lo > 0, items.cum[np.maximum(lo - 1, 0)], 0.0)
    target = cum0 + rng.random(r) * (items.cum[hi - 1] - cum0)
    pos = np.clip(np.searchsorted(items.cum, target, side="right"), lo, hi - 1)
    item = items.order[pos]

    # Affinity with the interest at time t.
    p, s, w1 = items.primary[item], items.secondary[item], items.w1[item]
    theta = users.theta(k)
    keep = 1.0 - cfg.drift * t
    th_p = keep * theta[u, p] + cfg.drift * t * (users.drift_topic[u] == p)
    th_s = keep * theta[u, s] + cfg.drift * t * (users.drift_topic[u] == s)
    aff = w1 * th_p + (1.0 - w1) * th_s

    span = cfg.weeks * 7 * 86400
    ts = cfg.start_ts + np.floor(t * span).astype(np.int64)
    is_ad = items.type_code[item] == 2
    parts_u, parts_i, parts_d, parts_e, parts_t = [u], [item], [dom], [np.zeros(r, np.int8)], [ts]
    for code, name in enumerate(EVENTS):
        if name == "click":
            continue
        bias, slope, delay = _FUNNEL[name]
        eligible = is_ad if name == "convert" else ~is_ad
        prob = _sigmoid(bias + slope * aff + (0.0 if name == "convert" else items.quality[item]))
        hit = eligible & (rng.random(r) < prob)
        lag = np.ceil(rng.exponential(delay, int(hit.sum()))).astype(np.int64)
        parts_u.append(u[hit])
        parts_i.append(item[hit])
        parts_d.append(dom[hit])
        parts_e.append(np.full(int(hit.sum()), code, np.int8))
        parts_t.append(np.minimum(ts[hit] + lag, cfg.end_ts - 1))
    u_all = np.concatenate(parts_u)
    ev = np.concatenate(parts_e)
    ts_all = np.concatenate(parts_t)
    # Sort by (user, ts, event) with one int64 key: u < 2^31, ts offset < 2^28, event < 8.
    key = (u_all.astype(np.int64) << 31) | ((ts_all - cfg.start_ts) << 3) | ev
    order = np.argsort(key, kind="stable")
    item_all = np.concatenate(parts_i)[order]
    return {
        "user": users.ids[u_all[order]],
        "item": item_all,
        "domain": np.concatenate(parts_d)[order],
        "event": ev[order],
        "ts": ts_all[order],
    }


def _make_follows(cfg: WorldConfig, users: _Users, by_topic: np.ndarray, topic_start: np.ndarray,
                  topic_count: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Homophilous follows: a followee shares a topic drawn from the follower's interests."""
    rng = _rng(cfg.seed, _S_FOLLOWS, chunk)
    c = len(users.ids)
    n = rng.poisson(cfg.follows_per_user, c)
    u = np.repeat(np.arange(c), n)
    m = len(u)
    topic = users.topics[u, _categorical(np.cumsum(users.weights, 1), u, rng.random(m))]
    cnt = topic_count[topic]
    within = np.floor(rng.random(m) * np.maximum(cnt, 1)).astype(np.int64)
    pick = by_topic[np.minimum(topic_start[topic] + within, cfg.n_users - 1)]
    homo = (rng.random(m) < cfg.homophily) & (cnt > 0)
    dst = np.where(homo, pick, rng.integers(0, cfg.n_users, m))
    src = users.ids[u] - ID_BASE["user"]
    keys = np.unique(src * cfg.n_users + dst)
    s, d = keys // cfg.n_users, keys % cfg.n_users
    keep = s != d
    return s[keep] + ID_BASE["user"], d[keep] + ID_BASE["user"]


_EVENT_SCHEMA = pa.schema([
    ("user_id", pa.int64()), ("item_id", pa.int64()), ("item_type", pa.string()),
    ("domain", pa.string()), ("event", pa.string()), ("ts", pa.int64()), ("value", pa.float64()),
])
_EDGE_SCHEMA = pa.schema([("src", pa.int64()), ("dst", pa.int64())])


def _tag_lists(cfg: WorldConfig, rng: np.random.Generator, primary: np.ndarray,
               secondary: np.ndarray | None, tag_names: list[str]) -> pa.Array:
    """Noisy multi-hot topic tags: primary (p 0.9), secondary (0.6), a random tag (tag_noise)."""
    n = len(primary)
    k = cfg.n_topics
    cols = [np.where(rng.random(n) < 0.9, primary, -1)]
    if secondary is not None:
        cols.append(np.where(rng.random(n) < 0.6, secondary, -1))
    cols.append(np.where(rng.random(n) < cfg.tag_noise, rng.integers(0, k, n), -1))
    mat = np.stack(cols, 1)
    # Drop duplicates within a row (keep the first occurrence).
    for j in range(1, mat.shape[1]):
        dup = (mat[:, :j] == mat[:, j : j + 1]).any(1)
        mat[dup, j] = -1
    valid = mat >= 0
    offsets = np.concatenate([[0], np.cumsum(valid.sum(1))]).astype(np.int32)
    values = _strings(tag_names, mat[valid])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _dense(cfg: WorldConfig, rng: np.random.Generator, topics: np.ndarray, g: _Global) -> pa.Array:
    content = topics @ g.projection + rng.normal(0.0, cfg.content_noise, (len(topics), cfg.dense_dim))
    flat = pa.array(content.astype(np.float32).ravel())
    return pa.FixedSizeListArray.from_arrays(flat, cfg.dense_dim)


def _write_items(cfg: WorldConfig, g: _Global, items: _Items, root: Path, tag_names: list[str]) -> None:
    k = cfg.n_topics
    for code, t in enumerate(ITEM_TYPES):
        rng = _rng(cfg.seed, _S_ITEMS, 100 + code)
        rows = np.flatnonzero(items.type_code == code)
        topics = items.topics_dense(rows, k)
        ids = ID_BASE[t] + np.arange(len(rows), dtype=np.int64)
        cols = {
            "id": pa.array(ids),
            "domain": _strings(DOMAINS, items.domain[rows]),
            "tags": _tag_lists(cfg, rng, items.primary[rows], items.secondary[rows], tag_names),
            "content": _dense(cfg, rng, topics, g),
        }
        if t == "ad":
            cols["advertiser_id"] = pa.array(ID_BASE["advertiser"] + items.advertiser.astype(np.int64))
        pq.write_table(pa.table(cols), root / "nodes" / f"{t}.parquet")
        np.save(root / "truth" / f"{t}_topics.npy", topics)
        np.save(root / "truth" / f"{t}_ids.npy", ids)
    # Advertisers and the ad -> advertiser side edges.
    rng = _rng(cfg.seed, _S_ITEMS, 200)
    n_adv = cfg.n_advertisers
    adv_ids = ID_BASE["advertiser"] + np.arange(n_adv, dtype=np.int64)
    adv_topics = np.zeros((n_adv, k), np.float32)
    np.add.at(adv_topics, (np.arange(n_adv), items.adv_topics[:, 0]), items.adv_w1)
    np.add.at(adv_topics, (np.arange(n_adv), items.adv_topics[:, 1]), 1.0 - items.adv_w1)
    tags = _tag_lists(cfg, rng, items.adv_topics[:, 0], items.adv_topics[:, 1], tag_names)
    pq.write_table(pa.table({"id": pa.array(adv_ids), "tags": tags}),
                   root / "nodes" / "advertiser.parquet")
    np.save(root / "truth" / "advertiser_topics.npy", adv_topics)
    np.save(root / "truth" / "advertiser_ids.npy", adv_ids)
    ad_ids = ID_BASE["ad"] + np.arange(cfg.n_ads, dtype=np.int64)  # type: ignore[arg-type]
    pq.write_table(
        pa.table({"src": pa.array(ad_ids), "dst": pa.array(adv_ids[items.advertiser])},
                 schema=_EDGE_SCHEMA),
        root / "edges" / "ad_advertiser.parquet",
    )


def world_config_yaml(cfg: WorldConfig) -> dict[str, Any]:
    """The `rankgraph.yaml` written beside a world: data and graph sections plus the eval cut."""
    tags = FeatureSpec("tags", "multi_hot")
    content = FeatureSpec("content", "dense")
    data = DataConfig(
        events=["events.parquet"],
        format="parquet",
        event_types=list(EVENTS),
        user_type="user",
        default_item_type="post",
        time_unit="seconds",
        node_tables=[
            NodeTableConfig("user", "nodes/user.parquet", features=[
                FeatureSpec("country", "categorical"), FeatureSpec("age_bucket", "categorical")]),
            NodeTableConfig("post", "nodes/post.parquet", features=[tags, content]),
            NodeTableConfig("video", "nodes/video.parquet", features=[tags, content]),
            NodeTableConfig("ad", "nodes/ad.parquet", features=[
                tags, content, FeatureSpec("advertiser", "categorical", column="advertiser_id")]),
            NodeTableConfig("advertiser", "nodes/advertiser.parquet", features=[tags]),
        ],
        side_edges=[
            SideEdgeTableConfig("follows", "edges/follows.parquet", "user", "user"),
            SideEdgeTableConfig("ad_advertiser", "edges/ad_advertiser.parquet", "ad", "advertiser"),
        ],
    )
    graph = GraphConfig(
        engagement=[
            EngagementRelationConfig("engaged", ["post", "video"], dict(ENGAGEMENT_WEIGHTS["post"])),
            EngagementRelationConfig("engaged", ["ad"], dict(ENGAGEMENT_WEIGHTS["ad"])),
        ],
        # One item_item relation over every item type: besides post__co__post etc. it links
        # items *across* types (post__co__video, ...), the co-engagement that carries a
        # user's interest into a domain they never used (issue #6: cross-domain recall).
        semantic=[SemanticRelationConfig("co", "item_item", list(ITEM_TYPES)),
                  SemanticRelationConfig("co", "user_user", list(ITEM_TYPES))],
    )
    # Train before, test on the last week: part of the single-domain users switch only
    # after this cut, so their new domain is unseen in training.
    graph.train_until = evaluation_cut(cfg)
    return {
        "data": to_dict(data),
        "graph": to_dict(graph),
        "evaluate": {"test_from": evaluation_cut(cfg)},
    }


def evaluation_cut(cfg: WorldConfig) -> str:
    """The temporal cut written into `rankgraph.yaml`: the start of the last week (ISO, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cfg.end_ts - 7 * 86400))


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse an existing non-empty (or non-directory) `out` unless `force`."""
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ArtifactError(f"{out}: exists and is not empty (pass --force / force=True to replace it)")


_USER_SCHEMA = pa.schema([("id", pa.int64()), ("country", pa.string()), ("age_bucket", pa.string())])
_USER_TRUTH_SCHEMA = pa.schema([
    ("id", pa.int64()), ("primary_topic", pa.int32()), ("drift_topic", pa.int32()),
    ("home_domain", pa.string()), ("second_domain", pa.string()), ("switch_ts", pa.int64()),
])

Progress = Callable[[int, int, int], None]


def _write_users(cfg: WorldConfig, g: _Global, root: Path, n_chunks: int,
                 on_chunk: Progress | None) -> tuple[np.ndarray, int]:
    """Pass 1: user node table and truth, streamed; returns every user's primary topic."""
    k = cfg.n_topics
    primary = np.empty(cfg.n_users, np.int64)
    n_single = 0
    truth = root / "truth"
    shape = (cfg.n_users, k)
    th0 = np.lib.format.open_memmap(truth / "user_interests.npy", "w+", np.float32, shape)
    th1 = np.lib.format.open_memmap(truth / "user_interests_end.npy", "w+", np.float32, shape)
    null_str = pa.scalar(None, pa.string())
    span = cfg.weeks * 7 * 86400
    with pq.ParquetWriter(root / "nodes" / "user.parquet", _USER_SCHEMA) as uw, \
            pq.ParquetWriter(truth / "users.parquet", _USER_TRUTH_SCHEMA) as tw:
        for ch in range(n_chunks):
            users = _make_users(cfg, g, ch)
            rows = slice(ch * cfg.chunk_users, ch * cfg.chunk_users + len(users.ids))
            primary[rows] = users.primary
            theta = users.theta(k)
            th0[rows] = theta
            end = (1.0 - cfg.drift) * theta
            end[np.arange(len(theta)), users.drift_topic] += cfg.drift
            th1[rows] = end
            country, age = _user_features(cfg, g, users, ch)
            uw.write_table(pa.table({
                "id": pa.array(users.ids),
                "country": _strings(COUNTRIES, country),
                "age_bucket": _strings(AGE_BUCKETS, age),
            }, schema=_USER_SCHEMA))
            multi = pa.array(~users.single)
            switch_ts = cfg.start_ts + np.floor(users.switch * span).astype(np.int64)
            tw.write_table(pa.table({
                "id": pa.array(users.ids),
                "primary_topic": pa.array(users.primary.astype(np.int32)),
                "drift_topic": pa.array(users.drift_topic.astype(np.int32)),
                "home_domain": pc.if_else(multi, null_str, _strings(DOMAINS, users.home)),
                "second_domain": pc.if_else(multi, null_str, _strings(DOMAINS, users.second)),
                "switch_ts": pc.if_else(multi, pa.scalar(None, pa.int64()), pa.array(switch_ts)),
            }, schema=_USER_TRUTH_SCHEMA))
            n_single += int(users.single.sum())
            if on_chunk is not None:
                on_chunk(ch + 1, 2 * n_chunks, 0)
    th0.flush()
    th1.flush()
    del th0, th1
    np.save(truth / "user_ids.npy", ID_BASE["user"] + np.arange(cfg.n_users, dtype=np.int64))
    return primary, n_single


def _write_events_and_follows(cfg: WorldConfig, g: _Global, items: _Items, primary: np.ndarray,
                              root: Path, n_chunks: int, on_chunk: Progress | None
                              ) -> tuple[np.ndarray, np.ndarray, int]:
    """Pass 2: events and follows, chunk by chunk; returns counts by event, by domain, follows."""
    by_topic = np.argsort(primary, kind="stable")
    topic_count = np.bincount(primary, minlength=cfg.n_topics)
    topic_start = np.concatenate([[0], np.cumsum(topic_count)[:-1]])
    item_ids = np.array([ID_BASE[t] for t in ITEM_TYPES], np.int64)[items.type_code] + items.local
    by_event = np.zeros(len(EVENTS), np.int64)
    by_domain = np.zeros(len(DOMAINS), np.int64)
    n_follows = 0
    with pq.ParquetWriter(root / "events.parquet", _EVENT_SCHEMA) as ew, \
            pq.ParquetWriter(root / "edges" / "follows.parquet", _EDGE_SCHEMA) as fw:
        for ch in range(n_chunks):
            users = _make_users(cfg, g, ch)  # the same users as pass 1: same stream
            ev = _make_events(cfg, items, users, ch)
            ew.write_table(pa.table({
                "user_id": pa.array(ev["user"]),
                "item_id": pa.array(item_ids[ev["item"]]),
                "item_type": _strings(ITEM_TYPES, items.type_code[ev["item"]]),
                "domain": _strings(DOMAINS, ev["domain"]),
                "event": _strings(EVENTS, ev["event"]),
                "ts": pa.array(ev["ts"]),
                "value": pa.array(np.ones(len(ev["ts"]))),
            }, schema=_EVENT_SCHEMA))
            by_event += np.bincount(ev["event"], minlength=len(EVENTS))
            by_domain += np.bincount(ev["domain"], minlength=len(DOMAINS))
            src, dst = _make_follows(cfg, users, by_topic, topic_start, topic_count, ch)
            fw.write_table(pa.table({"src": pa.array(src), "dst": pa.array(dst)}, schema=_EDGE_SCHEMA))
            n_follows += len(src)
            if on_chunk is not None:
                on_chunk(n_chunks + ch + 1, 2 * n_chunks, int(by_event.sum()))
    return by_event, by_domain, n_follows


def generate_world(
    out: str | Path,
    cfg: WorldConfig | None = None,
    *,
    force: bool = False,
    on_chunk: Progress | None = None,
) -> WorldSummary:
    """Write a synthetic world directory atomically (layout in the module docstring).

    `on_chunk(done, total, events_so_far)` is called after each user chunk of each of the
    two passes (users, then events), so `total` is twice the number of chunks; the CLI
    drives its progress bar with it. Refuses a non-empty `out` unless `force`.
    """
    out = Path(out)
    cfg = (cfg or WorldConfig()).resolved()
    check_out_dir(out, force)
    t0 = time.perf_counter()
    g = _global(cfg)
    tag_names = [f"t{i:02d}" for i in range(cfg.n_topics)]
    n_chunks = -(-cfg.n_users // cfg.chunk_users)
    with atomic_dir(out) as root:
        for sub in ("nodes", "edges", "truth"):
            (root / sub).mkdir()
        items = _make_items(cfg, g)
        _write_items(cfg, g, items, root, tag_names)
        (root / "truth" / "topic_tags.json").write_text(json.dumps(tag_names))
        primary, n_single = _write_users(cfg, g, root, n_chunks, on_chunk)
        by_event, by_domain, n_follows = _write_events_and_follows(
            cfg, g, items, primary, root, n_chunks, on_chunk)
        (root / "rankgraph.yaml").write_text(yaml.safe_dump(world_config_yaml(cfg), sort_keys=False))
        domains = {d: int(v) for d, v in zip(DOMAINS, by_domain)}
        summary = WorldSummary(
            out=out,
            nodes=cfg.counts(),
            events=int(by_event.sum()),
            by_event={e: int(v) for e, v in zip(EVENTS, by_event)},
            by_domain=domains,
            by_item_type={
                t: sum(v for d, v in domains.items() if DOMAIN_TYPE[d] == t) for t in ITEM_TYPES},
            follows=n_follows,
            single_domain_users=n_single,
            seconds=0.0,
            config=asdict(cfg),
        )
        write_manifest(root, "world", {
            "config": asdict(cfg),
            "counts": {
                "nodes": summary.nodes, "events": summary.events, "by_event": summary.by_event,
                "by_domain": summary.by_domain, "follows": n_follows, "single_domain_users": n_single,
            },
            "id_base": ID_BASE,
            "domains": {t: [d for d in DOMAINS if DOMAIN_TYPE[d] == t] for t in ITEM_TYPES},
        })
    summary.seconds = time.perf_counter() - t0
    return summary
