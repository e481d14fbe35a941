"""The EfficientNet-Lite0 port loads the ImageNet weights exactly and classifies real photos."""

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.models._efficientnet import INPUT_MEAN, INPUT_STD, EfficientNetLite0, pretrained_state_dict

from .conftest import VAL_PHOTOS

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


@pytest.mark.skipif(not VAL.is_dir(), reason="shared photos not available")
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
