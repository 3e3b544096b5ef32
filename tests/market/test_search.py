"""Catalog search: Chinese segmentation, synonyms, filters and ranking, over a real exchange."""

from __future__ import annotations

import pytest

from suanshu.core.errors import UsageError
from suanshu.market import orgs, search
from suanshu.market.search import CatalogIndex, Doc, query_terms, terms


def doc(key, title, desc="", *, region="湖南-长沙", grade="general-2", mode="aggregate", price=100, tags=()):
    return Doc(key, "component", title, desc, list(tags), "org", "org", region, grade, mode, price, None, 0.0)


def test_segmentation_and_synonyms_meet_in_one_term():
    assert "长沙" in terms("长沙市逐时观测") and "长沙市" in terms("长沙市逐时观测")
    # 天气 and 气象, 降雨 and 降水, 移动电话 and 手机 are one term each
    assert set(query_terms("天气")) == set(query_terms("气象")) == {"气象"}
    assert query_terms("降雨") == query_terms("降水") == ["降水"]
    assert "手机" in query_terms("移动电话")
    assert query_terms("的 和 ，。") == []  # stop words and punctuation are no terms


def test_ranking_prefers_title_and_both_terms():
    idx = CatalogIndex()
    idx.add(doc("desc-only", "湖南省统计年鉴", "包含长沙的降水记录"))
    idx.add(doc("title", "长沙逐小时降雨观测", "湖南省气象站"))
    idx.add(doc("one-term", "长沙人口普查"))
    idx.add(doc("none", "北京交通出行"))
    result = idx.search("长沙 降雨", region=None, grade=None, mode=None, price_min=None, price_max=None)
    assert [h.doc.key for h in result.hits] == ["title", "desc-only", "one-term"]
    assert result.total == 3


def test_filters_mask_before_ranking():
    idx = CatalogIndex()
    idx.add(doc("a", "长沙气象", region="湖南-长沙", grade="general-2", mode="aggregate", price=100))
    idx.add(doc("b", "株洲气象", region="湖南-株洲", grade="general-3", mode="dp", price=900))
    idx.add(doc("c", "北京气象", region="北京", grade="general-1", mode="extract", price=50))
    f = dict(region=None, grade=None, mode=None, price_min=None, price_max=None)

    def keys(**kw):
        return sorted(h.doc.key for h in idx.search("天气", **{**f, **kw}).hits)

    assert keys() == ["a", "b", "c"]
    assert keys(region="湖南") == ["a", "b"] and keys(region="湖南-株洲") == ["b"] and keys(region="湖") == []
    assert keys(grade="general-2") == ["a", "c"]
    assert keys(mode="dp") == ["b"]
    assert keys(price_max=100) == ["a", "c"] and keys(price_min=100, price_max=900) == ["a", "b"]
    idx.remove("a")
    assert keys() == ["b", "c"]


def test_search_over_the_exchange(world):
    ex = world.ex
    hits = search.search(ex, "长沙 天气").hits  # the listing says 气象 and 湖南省; 天气 is its synonym
    assert hits and hits[0].as_dict()["id"] == world.components["hunan_weather_monthly"]
    top = search.search(ex, "农作物 产量").hits[0].as_dict()
    assert top["id"] == world.components["county_crop_yield"]
    assert top["org_name"] == "湖南农业大数据平台" and top["region"] == "湖南-株洲" and top["kind"] == "component"
    assert top["grade"] and top["mode"] == "aggregate" and top["price_fen"] == 500
    regional = search.search(ex, "", region="湖南")
    assert regional.total == 2 and {h.doc.key for h in regional.hits} == {
        world.components["hunan_weather_monthly"], world.components["county_crop_yield"]}
    assert search.search(ex, "", price_max=150).total == 1  # the land-use stats at 100 fen
    assert search.search(ex, "量子计算机").total == 0


def test_bad_filters_have_stable_codes(world):
    for kw in [dict(grade="secret"), dict(mode="stream"), dict(price_max=-1), dict(price_min=10, price_max=1),
               dict(limit=0)]:
        with pytest.raises(UsageError) as err:
            search.search(world.ex, "气象", **kw)
        assert err.value.code == "search.bad_filter"


def test_index_follows_the_tables(world, tmp_path):
    """A new listing is found after invalidate(); without it, within SYNC_SECONDS."""
    from market_world import LAND

    from suanshu.market import components
    from suanshu.market.components import ComponentSpec

    ex = world.ex
    assert search.search(ex, "坡度").total == 1
    actor = orgs.local_actor(ex, "geo")
    spec = dict(LAND, name="slope_stats_v2", title="县域坡度分级统计（新版）")
    components.publish(ex, actor, ComponentSpec(**spec))
    search.invalidate(ex)
    found = search.search(ex, "坡度 分级")
    assert found.total == 2 and found.hits[0].doc.title == "县域坡度分级统计（新版）"


def test_review_moves_reach_the_next_search_at_once(world):
    """Approve and delist tell the index themselves, so every adapter sees the change at once."""
    from market_world import LAND

    from suanshu.core.orgs import OPERATOR_ORG
    from suanshu.market import review
    from suanshu.market.components import ComponentSpec

    ex = world.ex
    assert search.search(ex, "坡度").total == 1  # the index is fresh: the next refresh is seconds away
    spec = ComponentSpec(**dict(LAND, name="slope_stats_v3", title="县域坡度分级统计（三版）"))
    waiting = review.submit(ex, orgs.local_actor(ex, "geo"), spec)
    assert waiting.state == "in_review" and search.search(ex, "坡度").total == 1
    operator = orgs.local_actor(ex, OPERATOR_ORG)
    review.approve(ex, operator, waiting.id)
    assert search.search(ex, "坡度").total == 2
    review.delist(ex, operator, waiting.id)
    assert search.search(ex, "坡度").total == 1


def test_is_current_only_when_no_sync_is_due_and_no_one_holds_the_index(world):
    import threading

    ex = world.ex
    search.search(ex, "天气")
    assert search.is_current(ex)  # the API then searches inline, on the event loop
    search.invalidate(ex)
    assert not search.is_current(ex)  # a sync is due: the API hands the search to a thread
    search.search(ex, "天气")
    assert search.is_current(ex)
    mirror, held, release = search._mirror(ex), threading.Event(), threading.Event()

    def hold():
        with mirror.lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        assert not search.is_current(ex)  # someone is syncing or searching: do not wait on the loop
    finally:
        release.set()
        holder.join()
    assert search.is_current(ex)
