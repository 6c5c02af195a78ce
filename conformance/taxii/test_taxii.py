"""TAXII 2.1 server conformance suite (OASIS TAXII Version 2.1, OASIS Standard, 10 June 2021).

Black-box tests of a TAXII 2.1 server, driven only by environment variables:

  TAXII_DISCOVERY  full URL of the discovery endpoint, e.g. http://127.0.0.1:8000/taxii2/
  TAXII_USER       HTTP Basic user
  TAXII_PASSWORD   HTTP Basic password
  TAXII_MARKING    optional: JSON text of one STIX 2.1 marking-definition.  Every envelope the
                   suite POSTs carries it and every SDO the suite makes lists its id in
                   object_marking_refs.  Without it the suite makes a statement marking itself.
  TAXII_CA         optional: the server's certificate (PEM) to verify HTTPS with; the system's
                   trust store if absent.
  TAXII_SERVER     optional: "medallion" marks the known medallion 3.0.0 deviations from the
                   spec as strict xfails (so they are reported, and a fix is noticed).

The suite walks discovery -> api_roots[0] -> collections and uses the first collection whose
can_read and can_write are both true.  Every object it creates has a fresh random UUID, so
re-runs against a persistent server do not collide, and every check that reads a shared
collection is scoped (match[id] or added_after) to this run's objects.

Section numbers in comments refer to the TAXII 2.1 OS document.
"""

import datetime as dt
import json
import os
import re
import time
import uuid
from types import SimpleNamespace
from urllib.parse import urljoin

import pytest
import requests
import stix2
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
# TAXII "timestamp" data type (section 2): RFC 3339, UTC "Z", exactly microsecond precision.
TAXII_TIMESTAMP_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
# STIX timestamps (used for object versions): any sub-second precision, "Z".
STIX_TIMESTAMP_RE = re.compile(r"\A(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?Z\Z")

HTTP_TIMEOUT = float(os.environ.get("TAXII_HTTP_TIMEOUT", "180"))
STATUS_DEADLINE = float(os.environ.get("TAXII_STATUS_TIMEOUT", "60"))
PAGING_DEADLINE = float(os.environ.get("TAXII_PAGING_TIMEOUT", "240"))
BULK_ENVELOPES = 20
BULK_PER_ENVELOPE = 100
# Deliberately not a divisor of the envelope size: objects added in one request usually share
# one date_added, so page boundaries fall inside such a group and `next` has to be exact.
PAGE_LIMIT = 37
MAX_413_BODY = 64 * 1024 * 1024

# What requests and taxii2-client verify the server's certificate with. requests lets
# REQUESTS_CA_BUNDLE (set on many systems) override a session's `verify`, so it is pointed
# at the same file.
VERIFY = os.environ.get("TAXII_CA", "").strip() or True
if VERIFY is not True:
    os.environ["REQUESTS_CA_BUNDLE"] = VERIFY
ON_MEDALLION = os.environ.get("TAXII_SERVER", "").strip().lower() == "medallion"


def medallion_deviation(reason):
    """Strict xfail only when the suite runs against medallion; elsewhere the test must pass."""
    return pytest.mark.xfail(
        ON_MEDALLION, reason="medallion 3.0.0 deviates from TAXII 2.1: " + reason, strict=True
    )


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

def parse_ts(value):
    """Parse a STIX/TAXII timestamp to an aware datetime (sub-microsecond digits dropped)."""
    assert isinstance(value, str), "timestamp is not a string: %r" % (value,)
    m = STIX_TIMESTAMP_RE.match(value)
    assert m, "not an RFC 3339 UTC timestamp ending in Z: %r" % value
    base = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    frac = (m.group(2) or ".")[1:]
    micro = int((frac + "000000")[:6]) if frac else 0
    return base.replace(microsecond=micro)


def assert_taxii_timestamp(value, what):
    assert isinstance(value, str) and TAXII_TIMESTAMP_RE.match(value), (
        "%s must be a TAXII timestamp YYYY-MM-DDTHH:MM:SS.ssssssZ (microsecond precision, "
        "section 2), got %r" % (what, value)
    )


def stix_now():
    now = dt.datetime.now(dt.timezone.utc)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)


def fmt_stix(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ts.microsecond // 1000)


def is_uuid4(value):
    try:
        u = uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return u.version == 4 and str(u) == value.lower()


def assert_no_empty_lists(resource, path="$"):
    """Section 2 ("list"): empty lists are prohibited in TAXII resources."""
    if isinstance(resource, dict):
        for k, v in resource.items():
            assert_no_empty_lists(v, "%s.%s" % (path, k))
    elif isinstance(resource, list):
        assert resource, "%s is an empty list; TAXII prohibits empty lists (section 2)" % path
        for i, v in enumerate(resource):
            assert_no_empty_lists(v, "%s[%d]" % (path, i))


def describe(resp):
    return "%s %s -> HTTP %s %r: %s" % (
        resp.request.method, resp.url, resp.status_code,
        resp.headers.get("Content-Type"), resp.text[:600],
    )


def assert_taxii_content_type(resp):
    ct = resp.headers.get("Content-Type")
    assert ct == TAXII_MEDIA, (
        "Content-Type must be exactly %r, got %r (%s %s)"
        % (TAXII_MEDIA, ct, resp.request.method, resp.url)
    )


def expect_taxii(resp, status=200):
    """A successful TAXII response: status code, exact media type, JSON object, no empty lists."""
    assert resp.status_code == status, "expected HTTP %d; %s" % (status, describe(resp))
    assert_taxii_content_type(resp)
    try:
        body = resp.json()
    except ValueError:
        pytest.fail("response body is not JSON; %s" % describe(resp))
    assert isinstance(body, dict), "TAXII resources are JSON objects; %s" % describe(resp)
    assert_no_empty_lists(body)
    return body


def expect_error(resp, status):
    """An error response: status code, TAXII media type and an error message (section 3.6.1)."""
    assert resp.status_code == status, "expected HTTP %d; %s" % (status, describe(resp))
    assert_taxii_content_type(resp)
    try:
        body = resp.json()
    except ValueError:
        pytest.fail("error body is not a TAXII error message (JSON); %s" % describe(resp))
    assert isinstance(body, dict), "error message must be a JSON object; %s" % describe(resp)
    assert isinstance(body.get("title"), str) and body["title"].strip(), (
        "error message needs a non-empty 'title' (required, section 3.6.1); %s" % describe(resp))
    # http_status is optional in section 3.6.1, typed `string`, and must equal the HTTP status
    # code when present.  This suite requires it (project policy, stricter than the spec).
    assert body.get("http_status") == str(status), (
        "error message 'http_status' must be the string %r; %s" % (str(status), describe(resp)))
    for key in ("description", "error_id", "error_code", "external_details"):
        if key in body:
            assert isinstance(body[key], str), "error %s must be a string" % key
    if "details" in body:
        assert isinstance(body["details"], dict), "error details must be a dictionary"
    assert_no_empty_lists(body)
    return body


# --------------------------------------------------------------------------------------------
# STIX validation of everything the server returns
# --------------------------------------------------------------------------------------------

OUR_IDS = set()          # ids of objects this run created (validated strictly)
_VALIDATED = set()
_STRICT = ValidationOptions(version="2.1", strict=True)
_LENIENT = ValidationOptions(version="2.1")


def validate_stix(obj):
    """stix2-validator on one object returned by the server; must be valid STIX 2.1.

    Objects this run created are checked in strict mode (warnings are errors as well);
    anything else found in the collection must be free of errors.
    """
    assert isinstance(obj, dict), "objects must be JSON objects, got %r" % (obj,)
    strict = obj.get("id") in OUR_IDS
    key = (json.dumps(obj, sort_keys=True), strict)
    if key in _VALIDATED:
        return
    result = validate_instance(obj, _STRICT if strict else _LENIENT)
    problems = [str(e) for e in result.errors] + ([str(w) for w in result.warnings] if strict else [])
    assert result.is_valid and not (strict and problems), (
        "server returned an invalid STIX 2.1 object %s:\n  %s" % (obj.get("id"), "\n  ".join(problems)))
    _VALIDATED.add(key)


def envelope_objects(body):
    """Objects of an envelope (section 3.7), each validated."""
    objs = body.get("objects", [])
    assert isinstance(objs, list), "envelope 'objects' must be a list"
    for o in objs:
        validate_stix(o)
    if "more" in body:
        assert isinstance(body["more"], bool), "'more' must be a boolean"
    if "next" in body:
        assert isinstance(body["next"], str) and body["next"], "'next' must be a non-empty string"
    return objs


def _same_value(a, b):
    if isinstance(a, str) and isinstance(b, str) and STIX_TIMESTAMP_RE.match(a) and STIX_TIMESTAMP_RE.match(b):
        return parse_ts(a) == parse_ts(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    return a == b


def assert_same_object(returned, posted):
    """The server must hand back the object version it stored, property for property
    (timestamps compared as instants, so re-serialised precision is tolerated)."""
    assert returned.keys() == posted.keys(), (
        "object %s came back with different properties: added %s, missing %s" % (
            posted["id"], sorted(returned.keys() - posted.keys()), sorted(posted.keys() - returned.keys())))
    for k in posted:
        assert _same_value(returned[k], posted[k]), (
            "object %s property %r changed: posted %r, got %r" % (posted["id"], k, posted[k], returned[k]))


def version_of(obj):
    return parse_ts(obj.get("modified") or obj["created"])


# --------------------------------------------------------------------------------------------
# HTTP access
# --------------------------------------------------------------------------------------------

class Http:
    def __init__(self, user, password):
        self.user = user
        self.password = password
        self.session = requests.Session()
        self.session.auth = (user, password)
        self.session.verify = VERIFY

    def request(self, method, url, params=None, headers=None, data=None):
        hdrs = {"Accept": TAXII_MEDIA}
        if headers:
            hdrs.update(headers)
        return self.session.request(method, url, params=params, headers=hdrs, data=data,
                                    timeout=HTTP_TIMEOUT, allow_redirects=False)

    def get(self, url, params=None, headers=None):
        return self.request("GET", url, params=params, headers=headers)

    def post_envelope(self, url, envelope, content_type=TAXII_MEDIA):
        data = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode("utf-8")
        return self.request("POST", url, headers={"Content-Type": content_type}, data=data)


@pytest.fixture(scope="session")
def config():
    url = os.environ.get("TAXII_DISCOVERY", "").strip()
    if not url:
        pytest.fail("TAXII_DISCOVERY is not set (full URL of the TAXII 2.1 discovery endpoint)",
                    pytrace=False)
    return SimpleNamespace(discovery=url, user=os.environ.get("TAXII_USER", ""),
                           password=os.environ.get("TAXII_PASSWORD", ""))


@pytest.fixture(scope="session")
def http(config):
    h = Http(config.user, config.password)
    yield h
    h.session.close()


@pytest.fixture(scope="session")
def discovery(http, config):
    return expect_taxii(http.get(config.discovery))


@pytest.fixture(scope="session")
def api_root_url(discovery, config):
    roots = discovery.get("api_roots")
    if not roots:
        pytest.fail("the discovery resource lists no api_roots; nothing to test", pytrace=False)
    url = urljoin(config.discovery, roots[0])
    return url if url.endswith("/") else url + "/"


@pytest.fixture(scope="session")
def api_root_info(http, api_root_url):
    return expect_taxii(http.get(api_root_url))


@pytest.fixture(scope="session")
def collections_body(http, api_root_url):
    return expect_taxii(http.get(api_root_url + "collections/"))


@pytest.fixture(scope="session")
def collection_info(collections_body, api_root_url):
    for c in collections_body.get("collections", []):
        if c.get("can_read") is True and c.get("can_write") is True:
            return c
    pytest.fail("API root %s has no collection with can_read and can_write both true; the suite "
                "needs one to write its test objects into" % api_root_url, pytrace=False)


@pytest.fixture(scope="session")
def urls(api_root_url, collection_info):
    coll = "%scollections/%s/" % (api_root_url, collection_info["id"])
    return SimpleNamespace(api_root=api_root_url, collection=coll,
                           objects=coll + "objects/", manifest=coll + "manifest/")


@pytest.fixture(scope="session")
def tc_collection(config, urls):
    col = Collection(urls.collection, user=config.user, password=config.password, verify=VERIFY)
    yield col
    col.close()


def object_url(urls, obj_id):
    return "%s%s/" % (urls.objects, obj_id)


# --------------------------------------------------------------------------------------------
# test data
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def marking():
    text = os.environ.get("TAXII_MARKING", "").strip()
    if text:
        try:
            obj = json.loads(text)
        except ValueError as e:
            pytest.fail("TAXII_MARKING is not JSON: %s" % e, pytrace=False)
        if not (isinstance(obj, dict) and obj.get("type") == "marking-definition"
                and str(obj.get("id", "")).startswith("marking-definition--")):
            pytest.fail("TAXII_MARKING must be one STIX 2.1 marking-definition object", pytrace=False)
        result = validate_instance(obj, _LENIENT)
        if not result.is_valid:
            pytest.fail("TAXII_MARKING is not valid STIX 2.1: %s" % [str(e) for e in result.errors],
                        pytrace=False)
        return obj
    made = stix2.v21.MarkingDefinition(
        id="marking-definition--%s" % uuid.uuid4(),
        created=fmt_stix(stix_now()),
        definition_type="statement",
        definition=stix2.v21.StatementMarking(statement="TAXII 2.1 conformance suite test data"),
    )
    obj = json.loads(made.serialize())
    OUR_IDS.add(obj["id"])
    return obj


class Factory:
    """Builds valid STIX 2.1 SDOs with fresh ids, all carrying the run's marking."""

    def __init__(self, marking_obj):
        self.marking = marking_obj
        self.run = uuid.uuid4().hex[:8]

    def _base(self, type_, created=None, modified=None):
        created = created or stix_now()
        obj = {
            "type": type_,
            "spec_version": "2.1",
            "id": "%s--%s" % (type_, uuid.uuid4()),
            "created": fmt_stix(created),
            "modified": fmt_stix(modified or created),
            "object_marking_refs": [self.marking["id"]],
        }
        OUR_IDS.add(obj["id"])
        return obj

    def indicator(self, label, created=None, modified=None, octet=None):
        obj = self._base("indicator", created, modified)
        octet = (uuid.uuid4().int % 254) + 1 if octet is None else octet
        obj.update({
            "name": "conformance %s %s" % (self.run, label),
            "description": "TAXII conformance suite test indicator (%s)" % label,
            "indicator_types": ["malicious-activity"],
            "pattern": "[ipv4-addr:value = '198.51.100.%d']" % octet,
            "pattern_type": "stix",
            "valid_from": obj["created"],
        })
        return obj

    def malware(self, label):
        obj = self._base("malware")
        obj.update({
            "name": "conformance %s %s" % (self.run, label),
            "description": "TAXII conformance suite test malware (%s)" % label,
            "malware_types": ["trojan"],
            "is_family": False,
        })
        return obj

    def new_version(self, obj, **changes):
        new = json.loads(json.dumps(obj))
        new.update(changes)
        new["modified"] = fmt_stix(parse_ts(obj["modified"]) + dt.timedelta(seconds=1))
        return new

    def envelope(self, sdos):
        return {"objects": [self.marking] + list(sdos)}


@pytest.fixture(scope="session")
def factory(marking):
    return Factory(marking)


def check_status_resource(status, total):
    """Status resource, section 4.3.1."""
    assert is_uuid4(status.get("id")), "status id must be an RFC 4122 v4 UUID: %r" % status.get("id")
    assert status.get("status") in ("complete", "pending"), "status must be complete|pending: %r" % status
    counts = {}
    for k in ("total_count", "success_count", "failure_count", "pending_count"):
        v = status.get(k)
        assert isinstance(v, int) and not isinstance(v, bool) and v >= 0, (
            "status %s must be a non-negative integer (required): %r" % (k, status))
        counts[k] = v
    assert counts["total_count"] == total, (
        "status total_count %d, but the envelope held %d objects" % (counts["total_count"], total))
    assert counts["success_count"] + counts["failure_count"] + counts["pending_count"] == total, (
        "success_count + failure_count + pending_count != total_count: %r" % status)
    for lst, cnt in (("successes", "success_count"), ("failures", "failure_count"),
                     ("pendings", "pending_count")):
        if lst in status:
            details = status[lst]
            assert isinstance(details, list) and len(details) == counts[cnt], (
                "status %s must list %s entries: %r" % (lst, cnt, status))
            for d in details:
                assert isinstance(d, dict) and isinstance(d.get("id"), str), "status-details needs id: %r" % d
                assert isinstance(d.get("version"), str), "status-details needs version: %r" % d
                if "message" in d:
                    assert isinstance(d["message"], str)
    if "request_timestamp" in status:
        assert_taxii_timestamp(status["request_timestamp"], "status request_timestamp")
    if status["status"] == "complete":
        assert counts["pending_count"] == 0, "a complete status cannot have pending objects: %r" % status


def wait_for_status(http, urls, status, total):
    """GET <api-root>/status/<id>/ until complete (bounded)."""
    url = "%sstatus/%s/" % (urls.api_root, status["id"])
    deadline = time.monotonic() + STATUS_DEADLINE
    delay = 0.02
    while True:
        cur = expect_taxii(http.get(url))
        check_status_resource(cur, total)
        assert cur["id"] == status["id"], "status endpoint returned another status: %r" % cur
        if cur["status"] == "complete":
            return cur
        if time.monotonic() > deadline:
            pytest.fail("status %s still pending after %.0f s: %r" % (status["id"], STATUS_DEADLINE, cur))
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def add_objects(http, urls, factory, sdos):
    """POST an envelope (section 5.5), check the 202 status, poll it to completion and check that
    every SDO was added.  The marking-definition rides along in every envelope, so after the first
    time a server may report it as a duplicate failure; nothing else may fail."""
    env = factory.envelope(sdos)
    total = len(env["objects"])
    resp = http.post_envelope(urls.objects, env)
    first = expect_taxii(resp, 202)
    check_status_resource(first, total)
    final = wait_for_status(http, urls, first, total)
    marking_id = factory.marking["id"]
    for d in final.get("failures", []):
        assert d["id"] == marking_id, "server failed to add %s: %r" % (d["id"], d)
    assert final["failure_count"] <= 1, "unexpected failures: %r" % final
    assert final["success_count"] >= len(sdos), "not every SDO succeeded: %r" % final
    if "successes" in final:
        got = {}
        for d in final["successes"]:
            got.setdefault(d["id"], []).append(d["version"])
        for o in sdos:
            assert o["id"] in got, "status successes lacks %s: %r" % (o["id"], final)
            assert version_of(o) in [parse_ts(v) for v in got[o["id"]]], (
                "status-details version for %s must be its modified %s: %r" % (o["id"], o["modified"], got[o["id"]]))
    return first, final


def manifest_map(http, urls, ids):
    """{(id, version instant): manifest record} for all versions of `ids` (small sets only)."""
    body = expect_taxii(http.get(urls.manifest, params={"match[id]": ",".join(ids), "match[version]": "all"}))
    out = {}
    for rec in body.get("objects", []):
        check_manifest_record(rec)
        out[(rec["id"], parse_ts(rec["version"]))] = rec
    assert not body.get("more"), "manifest of %d ids unexpectedly paginated" % len(ids)
    return out


def check_manifest_record(rec):
    """manifest-record, section 5.3.1."""
    assert isinstance(rec.get("id"), str) and "--" in rec["id"], "manifest record id: %r" % rec
    assert_taxii_timestamp(rec.get("date_added"), "manifest date_added")
    assert isinstance(rec.get("version"), str), "manifest record version (required): %r" % rec
    parse_ts(rec["version"])
    if "media_type" in rec:
        assert rec["media_type"] == STIX_MEDIA or rec["media_type"].startswith("application/stix+json"), (
            "manifest media_type: %r" % rec)


def check_date_added_headers(resp, first, last):
    """X-TAXII-Date-Added-First/-Last (section 3.2) must be TAXII timestamps matching the content."""
    hf = resp.headers.get("X-TAXII-Date-Added-First")
    hl = resp.headers.get("X-TAXII-Date-Added-Last")
    assert hf is not None and hl is not None, (
        "X-TAXII-Date-Added-First/-Last missing on a non-empty response: %s" % describe(resp))
    assert_taxii_timestamp(hf, "X-TAXII-Date-Added-First")
    assert_taxii_timestamp(hl, "X-TAXII-Date-Added-Last")
    assert parse_ts(hf) == parse_ts(first), "X-TAXII-Date-Added-First %s, content says %s" % (hf, first)
    assert parse_ts(hl) == parse_ts(last), "X-TAXII-Date-Added-Last %s, content says %s" % (hl, last)


@pytest.fixture(scope="session")
def seed(http, urls, factory):
    """Small data set: indicators a, b, malware m and indicator v in two versions (v2 added by a
    later request than v1)."""
    a = factory.indicator("a")
    b = factory.indicator("b")
    m = factory.malware("m")
    v1 = factory.indicator("v")
    post1, status1 = add_objects(http, urls, factory, [a, b, m, v1])
    v2 = factory.new_version(v1, name=v1["name"] + " (revised)")
    post2, status2 = add_objects(http, urls, factory, [v2])
    ids = [a["id"], b["id"], m["id"], v1["id"]]
    manifest = manifest_map(http, urls, ids)
    for o in (a, b, m, v1, v2):
        assert (o["id"], version_of(o)) in manifest, "manifest lacks %s version %s" % (o["id"], o["modified"])
    return SimpleNamespace(a=a, b=b, m=m, v1=v1, v2=v2, post1=post1, status1=status1,
                           post2=post2, status2=status2, manifest=manifest,
                           by_id={o["id"]: o for o in (a, b, m)})


def date_added(seed, obj):
    return seed.manifest[(obj["id"], version_of(obj))]["date_added"]


def get_envelope(http, url, params=None):
    resp = http.get(url, params=params)
    body = expect_taxii(resp)
    return resp, body, envelope_objects(body)


def versions_set(objs):
    return {(o["id"], version_of(o)) for o in objs}


def check_sorted_and_headers(seed, resp, objs):
    """Objects come sorted by date_added ascending (section 3.3) and the headers match."""
    added = [date_added(seed, o) for o in objs]
    assert [parse_ts(x) for x in added] == sorted(parse_ts(x) for x in added), (
        "objects are not sorted by date_added ascending: %s" % added)
    check_date_added_headers(resp, added[0], added[-1])


# --------------------------------------------------------------------------------------------
# 4.1 discovery, 4.2 API root, 5.1/5.2 collections
# --------------------------------------------------------------------------------------------

def test_discovery(discovery, config):
    assert isinstance(discovery.get("title"), str) and discovery["title"], "discovery title is required"
    roots = discovery.get("api_roots")
    assert isinstance(roots, list) and roots and all(isinstance(r, str) and r for r in roots), (
        "api_roots must be a list of URLs: %r" % roots)
    for r in roots:
        assert "?" not in r, "API root URLs must not contain a query: %r" % r
        assert not r.startswith("//") and not r.startswith("../"), "bad relative API root URL %r" % r
    if "default" in discovery:
        assert discovery["default"] in roots, "default API root must be one of api_roots"
    for k in ("description", "contact"):
        if k in discovery:
            assert isinstance(discovery[k], str)
    server = Server(config.discovery, user=config.user, password=config.password, verify=VERIFY)
    try:
        assert server.title == discovery["title"]
        assert len(server.api_roots) == len(roots)
    finally:
        server.close()


def test_api_root_information(api_root_info, api_root_url, config):
    assert isinstance(api_root_info.get("title"), str) and api_root_info["title"], "API root title is required"
    versions = api_root_info.get("versions")
    assert isinstance(versions, list) and TAXII_MEDIA in versions, (
        "API root versions must contain %r: %r" % (TAXII_MEDIA, versions))
    mcl = api_root_info.get("max_content_length")
    assert isinstance(mcl, int) and not isinstance(mcl, bool) and mcl > 0, (
        "max_content_length must be a positive integer: %r" % mcl)
    root = ApiRoot(api_root_url, user=config.user, password=config.password, verify=VERIFY)
    try:
        assert root.title == api_root_info["title"]
        assert TAXII_MEDIA in root.versions
        assert root.max_content_length == mcl
    finally:
        root.close()


def check_collection_resource(c):
    """Collection resource, section 5.2.1."""
    assert is_uuid4(c.get("id")), "collection id must be an RFC 4122 v4 UUID: %r" % c
    assert isinstance(c.get("title"), str) and c["title"], "collection title is required: %r" % c
    assert isinstance(c.get("can_read"), bool), "can_read must be a boolean: %r" % c
    assert isinstance(c.get("can_write"), bool), "can_write must be a boolean: %r" % c
    for k in ("description", "alias"):
        if k in c:
            assert isinstance(c[k], str)
    if "media_types" in c:
        mt = c["media_types"]
        assert isinstance(mt, list) and mt and all(isinstance(x, str) and x for x in mt), (
            "media_types must be a list of media type strings: %r" % c)


def test_collections_list(collections_body, api_root_url, config):
    cols = collections_body.get("collections")
    assert isinstance(cols, list) and cols, "the collections resource lists no collections"
    for c in cols:
        check_collection_resource(c)
    ids = [c["id"] for c in cols]
    assert len(ids) == len(set(ids)), "collection ids must be unique"
    root = ApiRoot(api_root_url, user=config.user, password=config.password, verify=VERIFY)
    try:
        assert [c.id for c in root.collections] == ids
    finally:
        root.close()


def test_collection_by_id(http, urls, collection_info, tc_collection):
    body = expect_taxii(http.get(urls.collection))
    check_collection_resource(body)
    assert body == collection_info, "GET collection differs from its entry in the collections list"
    assert body["can_read"] is True and body["can_write"] is True
    assert tc_collection.id == body["id"]
    assert tc_collection.title == body["title"]
    assert tc_collection.can_read is True and tc_collection.can_write is True
    assert tc_collection.media_types == body.get("media_types", [])


# --------------------------------------------------------------------------------------------
# 5.5 add objects, 4.3 status
# --------------------------------------------------------------------------------------------

def test_add_objects_status(http, urls, seed):
    for post, final, n in ((seed.post1, seed.status1, 5), (seed.post2, seed.status2, 2)):
        assert post["total_count"] == n and final["total_count"] == n
        assert final["status"] == "complete"
        assert final["success_count"] >= n - 1
        # a finished status stays retrievable by id
        again = expect_taxii(http.get("%sstatus/%s/" % (urls.api_root, final["id"])))
        check_status_resource(again, n)
        assert again["id"] == final["id"] and again["status"] == "complete"
        assert again["success_count"] == final["success_count"]
        assert again["failure_count"] == final["failure_count"]
    assert seed.status1["id"] != seed.status2["id"], "each request needs its own status id"


def test_add_objects_with_taxii2client(http, urls, factory, tc_collection):
    obj = factory.indicator("via taxii2-client")
    # taxii2client itself rejects status resources lacking required properties or with
    # inconsistent counts (ValidationError)
    status = tc_collection.add_objects(json.dumps(factory.envelope([obj])), wait_for_completion=False)
    assert is_uuid4(status.id)
    assert status.total_count == 2
    final = wait_for_status(http, urls, {"id": status.id}, 2)
    assert final["success_count"] >= 1
    got = tc_collection.get_object(obj["id"])
    objs = envelope_objects(got)
    assert len(objs) == 1
    assert_same_object(objs[0], obj)


# --------------------------------------------------------------------------------------------
# 5.4 get objects, 5.6 get an object, filtering (3.4)
# --------------------------------------------------------------------------------------------

def test_get_objects(http, urls, seed, tc_collection):
    ids = [seed.a["id"], seed.b["id"], seed.m["id"]]
    resp, body, objs = get_envelope(http, urls.objects, {"match[id]": ",".join(ids)})
    assert sorted(o["id"] for o in objs) == sorted(ids)
    for o in objs:
        assert_same_object(o, seed.by_id[o["id"]])
    check_sorted_and_headers(seed, resp, objs)
    assert body.get("more", False) is False
    via_client = envelope_objects(tc_collection.get_objects(id=ids))
    assert sorted(o["id"] for o in via_client) == sorted(ids)


def test_get_object_by_id(http, urls, seed, tc_collection):
    resp, body, objs = get_envelope(http, object_url(urls, seed.a["id"]))
    assert len(objs) == 1
    assert_same_object(objs[0], seed.a)
    check_date_added_headers(resp, date_added(seed, seed.a), date_added(seed, seed.a))
    via_client = envelope_objects(tc_collection.get_object(seed.m["id"]))
    assert len(via_client) == 1
    assert_same_object(via_client[0], seed.m)


def test_get_object_defaults_to_latest_version(http, urls, seed):
    resp, body, objs = get_envelope(http, object_url(urls, seed.v1["id"]))
    assert len(objs) == 1, "without match[version] only the latest version is returned (3.4.1)"
    assert_same_object(objs[0], seed.v2)
    check_date_added_headers(resp, date_added(seed, seed.v2), date_added(seed, seed.v2))


@pytest.mark.parametrize("endpoint", ["object", "objects"])
@pytest.mark.parametrize("selector", ["(default)", "first", "last", "all", "first,last", "v1", "v2", "v1,v2"])
def test_match_version(http, urls, seed, endpoint, selector):
    """match[version] (3.4.1): last (the default), first, all, or specific versions (OR-ed)."""
    stamps = {"v1": seed.v1["modified"], "v2": seed.v2["modified"]}
    value = ",".join(stamps.get(s, s) for s in selector.split(","))
    expected = {
        "(default)": [seed.v2], "first": [seed.v1], "last": [seed.v2], "all": [seed.v1, seed.v2],
        "first,last": [seed.v1, seed.v2], "v1": [seed.v1], "v2": [seed.v2], "v1,v2": [seed.v1, seed.v2],
    }[selector]
    params = {} if selector == "(default)" else {"match[version]": value}
    if endpoint == "object":
        url = object_url(urls, seed.v1["id"])
    else:
        url = urls.objects
        params["match[id]"] = seed.v1["id"]
    resp, body, objs = get_envelope(http, url, params)
    assert versions_set(objs) == versions_set(expected), (
        "match[version]=%s returned versions %s" % (value, sorted(str(v) for _, v in versions_set(objs))))
    by_version = {version_of(o): o for o in expected}
    for o in objs:
        assert_same_object(o, by_version[version_of(o)])
    check_sorted_and_headers(seed, resp, objs)


@pytest.mark.parametrize("types,expect", [
    ("indicator", "ab"), ("malware", "m"), ("indicator,malware", "abm"), ("campaign", ""),
])
def test_match_type(http, urls, seed, types, expect):
    ids = [seed.a["id"], seed.b["id"], seed.m["id"]]
    resp, body, objs = get_envelope(http, urls.objects, {"match[id]": ",".join(ids), "match[type]": types})
    wanted = {"a": seed.a, "b": seed.b, "m": seed.m}
    assert sorted(o["id"] for o in objs) == sorted(wanted[k]["id"] for k in expect)
    if objs:
        check_sorted_and_headers(seed, resp, objs)
    else:
        assert "objects" not in body, "an empty result omits 'objects' (no empty lists)"


def test_match_id(http, urls, seed):
    resp, body, objs = get_envelope(http, urls.objects, {"match[id]": seed.b["id"]})
    assert [o["id"] for o in objs] == [seed.b["id"]]
    unknown = "indicator--%s" % uuid.uuid4()
    resp, body, objs = get_envelope(http, urls.objects, {"match[id]": unknown})
    assert objs == [] and "objects" not in body, (
        "no match must give an envelope without 'objects' (empty lists are prohibited): %r" % body)
    assert body.get("more", False) is False


@pytest.mark.parametrize("spec_version,matches", [("2.1", True), ("2.0", False), ("2.0,2.1", True)])
def test_match_spec_version(http, urls, seed, spec_version, matches):
    ids = [seed.a["id"], seed.m["id"]]
    resp, body, objs = get_envelope(http, urls.objects, {"match[id]": ",".join(ids),
                                                         "match[spec_version]": spec_version})
    if matches:
        assert sorted(o["id"] for o in objs) == sorted(ids)
        assert all(o["spec_version"] == "2.1" for o in objs)
        check_sorted_and_headers(seed, resp, objs)
    else:
        assert objs == [] and "objects" not in body, "STIX 2.1 objects must not match spec_version 2.0"


def test_added_after(http, urls, seed):
    d1 = date_added(seed, seed.v1)
    d2 = date_added(seed, seed.v2)
    assert parse_ts(d2) > parse_ts(d1), (
        "v2 was added by a later request than v1 but got date_added %s <= %s" % (d2, d1))
    ids = [seed.a["id"], seed.b["id"], seed.m["id"], seed.v1["id"]]
    params = {"match[id]": ",".join(ids), "match[version]": "all", "added_after": d1}
    resp, body, objs = get_envelope(http, urls.objects, params)
    expected = {k for k, rec in seed.manifest.items() if parse_ts(rec["date_added"]) > parse_ts(d1)}
    assert versions_set(objs) == expected, "added_after=%s is exclusive and selects by date_added" % d1
    assert (seed.v2["id"], version_of(seed.v2)) in expected
    check_sorted_and_headers(seed, resp, objs)
    # nothing of this data set was added after v2
    resp, body, objs = get_envelope(http, urls.objects, dict(params, added_after=d2))
    assert objs == [] and "objects" not in body


def test_limit_and_next_small(http, urls, seed):
    ids = [seed.a["id"], seed.b["id"], seed.m["id"]]
    pages = page_through(http, urls.objects, {"match[id]": ",".join(ids)}, limit=1, max_pages=10)
    seen = []
    for resp, body in pages:
        objs = envelope_objects(body)
        assert len(objs) <= 1, "limit=1 but the page holds %d objects" % len(objs)
        if objs:
            check_date_added_headers(resp, date_added(seed, objs[0]), date_added(seed, objs[0]))
        seen += [o["id"] for o in objs]
    assert sorted(seen) == sorted(ids), "paging with limit=1 must return each object exactly once"
    assert len(pages) >= 3
    assert pages[0][1].get("more") is True, "first page of 3 with limit=1 must say more=true"


# --------------------------------------------------------------------------------------------
# 5.3 manifest, 5.8 versions
# --------------------------------------------------------------------------------------------

def test_manifest(http, urls, seed, tc_collection):
    ids = [seed.a["id"], seed.b["id"], seed.m["id"], seed.v1["id"]]
    resp = http.get(urls.manifest, params={"match[id]": ",".join(ids)})
    body = expect_taxii(resp)
    recs = body.get("objects", [])
    for r in recs:
        check_manifest_record(r)
    # default match[version] is "last"
    got = {(r["id"], parse_ts(r["version"])) for r in recs}
    assert got == versions_set([seed.a, seed.b, seed.m, seed.v2])
    for r in recs:
        assert r["date_added"] == seed.manifest[(r["id"], parse_ts(r["version"]))]["date_added"]
        if "media_type" in r:
            assert r["media_type"] == STIX_MEDIA
    added = [parse_ts(r["date_added"]) for r in recs]
    assert added == sorted(added), "manifest must be sorted by date_added ascending (3.3)"
    check_date_added_headers(resp, recs[0]["date_added"], recs[-1]["date_added"])
    via_client = tc_collection.get_manifest(id=ids)
    assert sorted(r["id"] for r in via_client["objects"]) == sorted(ids)


@pytest.mark.parametrize("params,expect", [
    ({"match[version]": "all"}, ["v1", "v2"]),
    ({"match[version]": "first"}, ["v1"]),
    ({"match[version]": "last"}, ["v2"]),
    ({"match[version]": "v1"}, ["v1"]),
    ({"match[type]": "malware"}, []),
    ({"match[spec_version]": "2.1"}, ["v2"]),
    ({"added_after": "v1-added", "match[version]": "all"}, ["v2"]),
])
def test_manifest_filters(http, urls, seed, params, expect):
    params = dict(params)
    if params.get("match[version]") == "v1":
        params["match[version]"] = seed.v1["modified"]
    if params.get("added_after") == "v1-added":
        params["added_after"] = date_added(seed, seed.v1)
    params["match[id]"] = seed.v1["id"]
    resp = http.get(urls.manifest, params=params)
    body = expect_taxii(resp)
    recs = body.get("objects", [])
    for r in recs:
        check_manifest_record(r)
    objs = {"v1": seed.v1, "v2": seed.v2}
    assert {(r["id"], parse_ts(r["version"])) for r in recs} == versions_set([objs[k] for k in expect])
    if recs:
        check_date_added_headers(resp, recs[0]["date_added"], recs[-1]["date_added"])
    else:
        assert "objects" not in body


def test_object_versions(http, urls, seed, tc_collection):
    resp = http.get(object_url(urls, seed.v1["id"]) + "versions/")
    body = expect_taxii(resp)
    versions = body.get("versions")
    assert isinstance(versions, list) and all(isinstance(v, str) for v in versions), (
        "versions resource needs a 'versions' list of strings: %r" % body)
    assert sorted(parse_ts(v) for v in versions) == sorted([version_of(seed.v1), version_of(seed.v2)])
    assert body.get("more", False) is False
    d1, d2 = date_added(seed, seed.v1), date_added(seed, seed.v2)
    check_date_added_headers(resp, min(d1, d2, key=parse_ts), max(d1, d2, key=parse_ts))
    via_client = tc_collection.object_versions(seed.a["id"])
    assert [parse_ts(v) for v in via_client["versions"]] == [version_of(seed.a)]


def test_object_versions_unknown_object(http, urls):
    expect_error(http.get(object_url(urls, "indicator--%s" % uuid.uuid4()) + "versions/"), 404)


# --------------------------------------------------------------------------------------------
# 5.7 delete an object
# --------------------------------------------------------------------------------------------

def test_delete_object(http, urls, factory):
    keep = factory.indicator("delete-neighbour")
    gone = factory.indicator("to delete")
    add_objects(http, urls, factory, [keep, gone])
    resp = http.request("DELETE", object_url(urls, gone["id"]))
    assert resp.status_code == 200, "DELETE of an existing object answers 200 (5.7); %s" % describe(resp)
    if resp.content:
        assert_taxii_content_type(resp)
    expect_error(http.get(object_url(urls, gone["id"])), 404)
    _, body, objs = get_envelope(http, urls.objects, {"match[id]": "%s,%s" % (keep["id"], gone["id"])})
    assert [o["id"] for o in objs] == [keep["id"]], "a deleted object must not be returned any more"
    man = expect_taxii(http.get(urls.manifest, params={"match[id]": gone["id"]}))
    assert "objects" not in man, "a deleted object must leave the manifest: %r" % man


def test_delete_one_version(http, urls, factory):
    """DELETE with match[version] removes just that version (5.7)."""
    x1 = factory.indicator("two versions, delete the first")
    add_objects(http, urls, factory, [x1])
    x2 = factory.new_version(x1, name=x1["name"] + " (revised)")
    add_objects(http, urls, factory, [x2])
    resp = http.request("DELETE", object_url(urls, x1["id"]), params={"match[version]": x1["modified"]})
    assert resp.status_code == 200, "DELETE of an existing version answers 200 (5.7); %s" % describe(resp)
    if resp.content:
        assert_taxii_content_type(resp)
    _, body, objs = get_envelope(http, object_url(urls, x1["id"]), {"match[version]": "all"})
    assert versions_set(objs) == versions_set([x2]), "only the undeleted version may remain"
    body = expect_taxii(http.get(object_url(urls, x1["id"]) + "versions/"))
    assert [parse_ts(v) for v in body.get("versions", [])] == [version_of(x2)]
    man = expect_taxii(http.get(urls.manifest, params={"match[id]": x1["id"], "match[version]": "all"}))
    assert [parse_ts(r["version"]) for r in man.get("objects", [])] == [version_of(x2)]


# --------------------------------------------------------------------------------------------
# errors (3.6), content negotiation, authentication
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["collections", "objects"])
def test_wrong_accept_is_406(http, urls, where):
    url = urls.api_root + "collections/" if where == "collections" else urls.objects
    expect_error(http.get(url, headers={"Accept": "application/xml"}), 406)


@pytest.mark.parametrize("content_type", ["application/json", "application/xml"])
def test_wrong_content_type_is_415(http, urls, factory, content_type):
    env = factory.envelope([factory.indicator("415 probe")])
    expect_error(http.post_envelope(urls.objects, env, content_type=content_type), 415)


def test_body_over_max_content_length_is_413(http, urls, factory, api_root_info):
    limit = api_root_info["max_content_length"]
    if limit > MAX_413_BODY:
        pytest.skip("max_content_length %d is too large to send one byte more cheaply" % limit)
    probe = factory.indicator("413 probe")
    env = factory.envelope([probe])
    base = len(json.dumps(env).encode("utf-8"))
    probe["description"] += "x" * max(0, limit + 1 - base)
    data = json.dumps(env).encode("utf-8")
    assert len(data) > limit
    try:
        resp = http.post_envelope(urls.objects, data)
    except requests.ConnectionError as e:
        pytest.fail("server dropped the connection instead of answering 413: %s" % e)
    expect_error(resp, 413)


def test_unknown_collection_is_404(http, urls):
    missing = "%scollections/%s/" % (urls.api_root, uuid.uuid4())
    expect_error(http.get(missing), 404)
    expect_error(http.get(missing + "objects/"), 404)
    expect_error(http.get(missing + "manifest/"), 404)


def test_unknown_object_is_404(http, urls):
    expect_error(http.get(object_url(urls, "indicator--%s" % uuid.uuid4())), 404)


def test_unknown_status_is_404(http, urls):
    expect_error(http.get("%sstatus/%s/" % (urls.api_root, uuid.uuid4())), 404)


def _unauthenticated(urls, config, how):
    auth = None if how == "missing" else (config.user or "conformance", "%s-wrong-%s" % (config.password, uuid.uuid4().hex))
    return requests.get(urls.objects, headers={"Accept": TAXII_MEDIA}, auth=auth,
                        timeout=HTTP_TIMEOUT, allow_redirects=False, verify=VERIFY)


@pytest.mark.parametrize("how", ["wrong", "missing"])
def test_bad_credentials_401(urls, config, how):
    resp = _unauthenticated(urls, config, how)
    assert resp.status_code == 401, "bad/missing credentials must give 401 (1.6.9); %s" % describe(resp)
    assert resp.headers.get("WWW-Authenticate"), "a 401 must carry WWW-Authenticate (1.6.9)"


@medallion_deviation(
    "a 401 from its auth layer (Flask-HTTPAuth) is text/html 'Unauthorized Access' instead of a TAXII "
    "error message with Content-Type application/taxii+json;version=2.1 (sections 3.6 and 1.6.8)")
@pytest.mark.parametrize("how", ["wrong", "missing"])
def test_bad_credentials_401_error_body(urls, config, how):
    expect_error(_unauthenticated(urls, config, how), 401)


# --------------------------------------------------------------------------------------------
# 3.5 pagination over a large result (>= 2000 objects in envelopes of 100)
# --------------------------------------------------------------------------------------------

def page_through(http, url, params, limit, max_pages, list_key="objects"):
    """Follow a paginated endpoint: same query + `next` while more=true.  If a server sets
    more=true without `next`, continue with added_after = X-TAXII-Date-Added-Last (3.5)."""
    pages = []
    query = dict(params, limit=str(limit))
    deadline = time.monotonic() + PAGING_DEADLINE
    while True:
        resp = http.get(url, params=query)
        body = expect_taxii(resp)
        items = body.get(list_key, [])
        assert len(items) <= limit, "limit=%d but the page holds %d items" % (limit, len(items))
        more = body.get("more", False)
        assert isinstance(more, bool), "'more' must be a boolean: %r" % body.get("more")
        pages.append((resp, body))
        if not more:
            break
        assert items, "more=true on an empty page"
        nxt = body.get("next")
        if nxt is not None:
            assert isinstance(nxt, str) and nxt, "'next' must be a non-empty string"
            query = dict(params, limit=str(limit), next=nxt)
        else:
            last = resp.headers.get("X-TAXII-Date-Added-Last")
            assert last, "more=true without next and without X-TAXII-Date-Added-Last: cannot continue"
            query = dict(params, limit=str(limit), added_after=last)
        assert len(pages) < max_pages, "pagination did not end after %d pages" % max_pages
        assert time.monotonic() < deadline, "pagination took longer than %.0f s" % PAGING_DEADLINE
    return pages


@pytest.fixture(scope="session")
def bulk(http, urls, factory):
    """A sentinel, then BULK_ENVELOPES envelopes of BULK_PER_ENVELOPE indicators.  Paging queries use
    added_after=<sentinel's date_added> so they only cover this run's bulk data (plus whatever
    anybody else adds concurrently, which the checks tolerate)."""
    sentinel = factory.indicator("bulk sentinel")
    add_objects(http, urls, factory, [sentinel])
    man = expect_taxii(http.get(urls.manifest, params={"match[id]": sentinel["id"]}))
    recs = man.get("objects", [])
    assert len(recs) == 1, "manifest match[id]=<sentinel> must give one record: %r" % man
    check_manifest_record(recs[0])
    start = recs[0]["date_added"]
    objects = {}
    for e in range(BULK_ENVELOPES):
        sdos = [factory.indicator("bulk %d/%d" % (e, i), octet=(i % 254) + 1) for i in range(BULK_PER_ENVELOPE)]
        add_objects(http, urls, factory, sdos)
        objects.update((o["id"], o) for o in sdos)
    assert len(objects) == BULK_ENVELOPES * BULK_PER_ENVELOPE
    return SimpleNamespace(start=start, objects=objects, sentinel=sentinel)


@pytest.fixture(scope="session")
def bulk_manifest(http, urls, bulk):
    pages = page_through(http, urls.manifest, {"added_after": bulk.start}, PAGE_LIMIT,
                         max_pages=len(bulk.objects) * 2)
    return pages


def test_paging_manifest(bulk, bulk_manifest):
    records = []
    for resp, body in bulk_manifest:
        recs = body.get("objects", [])
        for r in recs:
            check_manifest_record(r)
        if recs:
            check_date_added_headers(resp, recs[0]["date_added"], recs[-1]["date_added"])
        records += recs
    start = parse_ts(bulk.start)
    pairs = [(r["id"], parse_ts(r["version"])) for r in records]
    assert len(pairs) == len(set(pairs)), "some manifest records were returned more than once"
    counts = {}
    for r in records:
        assert parse_ts(r["date_added"]) > start, "added_after must exclude %r" % r
        counts[r["id"]] = counts.get(r["id"], 0) + 1
    missing = [i for i in bulk.objects if i not in counts]
    assert not missing, "%d of %d objects missing from the paged manifest, e.g. %s" % (
        len(missing), len(bulk.objects), missing[:3])
    assert bulk.sentinel["id"] not in counts
    added = [parse_ts(r["date_added"]) for r in records]
    assert added == sorted(added), "manifest pages must be in ascending date_added order (3.3)"
    assert len(bulk_manifest) >= len(bulk.objects) // PAGE_LIMIT


def test_paging_manifest_with_taxii2client(bulk, tc_collection):
    seen = {}
    pages = 0
    for env in as_pages(tc_collection.get_manifest, per_request=100, added_after=bulk.start):
        assert_no_empty_lists(env)
        pages += 1
        assert pages <= len(bulk.objects), "as_pages did not terminate"
        for r in env.get("objects", []):
            check_manifest_record(r)
            seen[r["id"]] = seen.get(r["id"], 0) + 1
    assert all(seen.get(i) == 1 for i in bulk.objects), "each bulk object exactly once via as_pages"
    assert pages >= len(bulk.objects) // 100


def test_paging_objects(http, urls, bulk, bulk_manifest):
    added = {}
    for _, body in bulk_manifest:
        for r in body.get("objects", []):
            added[(r["id"], parse_ts(r["version"]))] = r["date_added"]
    pages = page_through(http, urls.objects, {"added_after": bulk.start}, PAGE_LIMIT,
                         max_pages=len(bulk.objects) * 2)
    assert len(pages) >= len(bulk.objects) // PAGE_LIMIT
    assert pages[0][1].get("more") is True
    seen = {}
    pairs = []
    prev_last = None
    for resp, body in pages:
        objs = body.get("objects", [])
        for o in objs:
            pairs.append((o["id"], version_of(o)))
            seen[o["id"]] = seen.get(o["id"], 0) + 1
        if not objs:
            continue
        first = added.get((objs[0]["id"], version_of(objs[0])))
        last = added.get((objs[-1]["id"], version_of(objs[-1])))
        for o, d in ((objs[0], first), (objs[-1], last)):
            assert d is not None or o["id"] not in bulk.objects, (
                "%s is in the paged objects but not in the paged manifest" % o["id"])
        if first and last:  # both known (objects added concurrently by others may not be)
            check_date_added_headers(resp, first, last)
        hf = parse_ts(resp.headers["X-TAXII-Date-Added-First"])
        hl = parse_ts(resp.headers["X-TAXII-Date-Added-Last"])
        assert hf <= hl
        if prev_last is not None:
            assert hf >= prev_last, "pages must continue in ascending date_added order (3.3)"
        prev_last = hl
    assert len(pairs) == len(set(pairs)), "some object versions were returned on more than one page"
    missing = [i for i in bulk.objects if i not in seen]
    assert not missing, "%d of %d objects never returned while paging, e.g. %s" % (
        len(missing), len(bulk.objects), missing[:3])
    dup = [i for i in bulk.objects if seen[i] != 1]
    assert not dup, "objects returned more than once: %s" % dup[:3]
    # validate and compare after paging, so slow validation never stretches the paging session
    for _, body in pages:
        for o in envelope_objects(body):
            if o["id"] in bulk.objects:
                assert_same_object(o, bulk.objects[o["id"]])
