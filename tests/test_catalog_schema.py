"""Schema integrity: foreign keys, unique DOIs, normalised DOIs, controlled vocabularies with synonyms."""
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from catalog.db import engine_for, resolve_url
from catalog.errors import UnknownTermError
from catalog.records import normalise_doi
from catalog.vocab import load_vocabularies


@pytest.mark.parametrize("raw", ["10.1016/J.CompBioMed.2022.105382", "doi:10.1016/j.compbiomed.2022.105382",
                                 "https://doi.org/10.1016/j.compbiomed.2022.105382", " 10.1016/j.compbiomed.2022.105382 "])
def test_doi_normalised(raw):
    assert normalise_doi(raw) == "10.1016/j.compbiomed.2022.105382"


@pytest.mark.parametrize("bad", ["", "10.1/x", "compbiomed.2022", "11.1016/abc", "10.1016/ has space"])
def test_bad_doi_rejected(bad):
    with pytest.raises(ValueError, match="not a DOI"):
        normalise_doi(bad)


@pytest.mark.parametrize("vocab,inputs,slug", [
    ("organ", ["chest", "Thorax", "lung", "pulmonary"], "lung"),
    ("modality", ["MR", "MRI", "magnetic resonance", "mri"], "mri"),
    ("modality", ["X-ray", "xray", "radiograph"], "xray"),
    ("architecture", ["CycleGAN", "cycle gan", "cyclegan"], "cyclegan"),
    ("loss", ["WGAN loss", "wasserstein"], "wasserstein"),
])
def test_synonyms_resolve_to_one_term(vocab, inputs, slug):
    v = load_vocabularies()[vocab]
    assert {v.resolve(i) for i in inputs} == {slug}


def test_unknown_term_lists_allowed_and_close():
    with pytest.raises(UnknownTermError) as e:
        load_vocabularies()["organ"].resolve("lungs")
    assert e.value.close == ["lung"]
    assert "brain" in str(e.value) and "Close matches: lung" in str(e.value)


def test_foreign_keys_and_unique_doi_enforced(fixture_db):
    engine = engine_for(resolve_url(fixture_db))
    with pytest.raises(IntegrityError):
        with engine.begin() as c:
            c.execute(text("INSERT INTO paperorgan (paper_id, term, status) VALUES (1, 'no-such-organ', 'verified')"))
    with pytest.raises(IntegrityError):
        with engine.begin() as c:
            c.execute(text("INSERT INTO paper (key, kind, title, doi) VALUES ('dup', 'primary', 't', '10.9999/fixture.a')"))
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM paper WHERE key = 'dup'")).scalar() == 0
