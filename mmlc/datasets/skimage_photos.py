# Copyright (c) mmlc contributors. All rights reserved.
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

#: Real photographs that scikit-image ships inside its wheel (no download): eight colour photos and
#: one greyscale one (``camera.png``), so the demo also exercises grey-to-RGB handling.
SKIMAGE_PHOTOS = ('astronaut.png', 'chelsea.png', 'coffee.png', 'hubble_deep_field.jpg', 'ihc.png',
                  'motorcycle_left.png', 'motorcycle_right.png', 'retina.jpg', 'rocket.jpg', 'camera.png')


def skimage_data_dir() -> str:
    """Directory of scikit-image's bundled sample images."""
    import skimage.data
    return osp.dirname(skimage.data.__file__)


@DATASETS.register_module()
class SkimagePhotos(BaseDataset):
    """Unlabelled images bundled with scikit-image: the demo's data, needing no download.

    Args:
        names (Sequence[str]): File names inside ``skimage/data``. Defaults to :data:`SKIMAGE_PHOTOS`.
        pipeline (list): Data pipeline (starts with a loading transform).
        data_root (str, optional): Directory to read from. Defaults to scikit-image's data directory.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(classes=None)

    def __init__(self, names: Sequence[str] = SKIMAGE_PHOTOS, pipeline: Sequence = (),
                 data_root: Optional[str] = None, **kwargs) -> None:
        self.names = tuple(names)
        if not self.names:
            raise ValueError('names must list at least one image')
        super().__init__(data_root=data_root or skimage_data_dir(), pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> List[dict]:
        paths = [osp.join(self.data_root, name) for name in self.names]
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'bundled images not found: {missing}; is scikit-image installed?')
        return [dict(img_path=p, sample_idx=i) for i, p in enumerate(paths)]
