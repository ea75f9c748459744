import pytest


@pytest.mark.oracle
def test_oracle_runs_the_official_stack(oracle):
    versions = oracle("ping")
    assert versions["transformers"].startswith("4."), "the oracle must run the stack the packages were written for"
    assert versions["bert-score"] == "0.3.11"
    assert versions["fast-bleu"] == "0.0.90"
    assert versions["radgraph"] == "0.1.18"
    assert versions["f1chexbert"] == "0.0.2"
    assert versions["RaTEScore"] == "0.6.0"
