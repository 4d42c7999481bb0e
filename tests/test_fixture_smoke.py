from skingan.data.prepared import open_prepared


def test_tiny_prepared_is_a_valid_prepared_set(tiny_prepared):
    prepared = open_prepared(tiny_prepared)
    assert len(prepared) == 160
    assert prepared.images(64).shape == (160, 64, 64, 3)
    assert prepared.counts()["train"] == {"benign": 48, "malignant": 48}
    assert len(prepared.indices("val", ["malignant"])) == 16
    assert prepared.images(64).std() > 10  # real images, not blanks
