"""The EfficientNet-Lite ports load the ImageNet weights exactly and classify real photos."""

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.models._efficientnet import (
    INPUT_MEAN,
    INPUT_STD,
    VARIANTS,
    EfficientNetLite,
    EfficientNetLite0,
    pretrained_state_dict,
    stride_outputs,
)

from .conftest import VAL_PHOTOS, needs_photos

VAL = VAL_PHOTOS
# ImageNet class indices: 49 African crocodile, 50 American alligator; 525 dam;
# 0 tench, 1 goldfish, 389-397 assorted fish.
EXPECTED = {
    "gcompris-qt-data__crocodile.jpg": {49, 50},
    "gcompris-qt-data__dam5.jpg": {525},
    "gcompris-qt-data__fish6.jpg": {0, 1, 389, 390, 391, 392, 393, 394, 395, 396, 397},
}


@pytest.fixture(scope="module")
def classifier():
    model = EfficientNetLite0()
    model.load_state_dict(pretrained_state_dict(), strict=True)
    return model.eval()


@needs_photos
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_top5_is_sensible(classifier, name):
    image = Image.open(VAL / name).convert("RGB").resize((224, 224), Image.BICUBIC)
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
    with torch.inference_mode():
        top5 = classifier(((x - INPUT_MEAN) / INPUT_STD)[None]).topk(5).indices[0].tolist()
    assert EXPECTED[name] & set(top5), f"{name}: top-5 {top5}"


def test_state_dict_keys_match_the_published_file(classifier):
    published = pretrained_state_dict()
    ours = classifier.state_dict()
    assert list(published) == list(ours)
    assert all(published[k].shape == ours[k].shape for k in ours)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_matches_its_published_file(variant):
    published = pretrained_state_dict(variant)
    ours = EfficientNetLite(variant).state_dict()
    assert list(published) == list(ours)
    assert all(published[k].shape == ours[k].shape for k in ours)


def test_stride_outputs_are_the_last_block_of_each_resolution():
    assert stride_outputs("lite0") == ((0, 2, 4, 10, 15), (16, 24, 40, 112, 320))
    assert stride_outputs("lite2") == ((0, 3, 6, 14, 20), (16, 24, 48, 120, 352))
    x = torch.zeros(1, 3, 64, 64)
    features = EfficientNetLite("lite2").features(x)
    blocks, channels = stride_outputs("lite2")
    for stride, block, c in zip((2, 4, 8, 16, 32), blocks, channels, strict=True):
        assert features[block].shape == (1, c, 64 // stride, 64 // stride)
        if block + 1 < len(features):  # the next block halves the resolution
            assert features[block + 1].shape[-1] == 64 // stride // 2


@needs_photos
def test_lite2_names_a_crocodile():
    model = EfficientNetLite("lite2")
    model.load_state_dict(pretrained_state_dict("lite2"))
    image = Image.open(VAL / "gcompris-qt-data__crocodile.jpg").convert("RGB").resize((260, 260), Image.BICUBIC)
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
    with torch.inference_mode():
        top5 = model.eval()(((x - INPUT_MEAN) / INPUT_STD)[None]).topk(5).indices[0].tolist()
    assert {49, 50} & set(top5), top5
