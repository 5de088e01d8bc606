# Copyright (c) mmlc contributors. All rights reserved.
import importlib.util
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

#: Real photographs that installed packages ship inside their wheels (no download): name -> (package, path
#: inside the package). scikit-image is a dependency of mmlc; scikit-learn and matplotlib are too.
BUNDLED_PHOTOS: Dict[str, Tuple[str, str]] = {
    # colour photographs
    'astronaut': ('skimage', 'data/astronaut.png'),
    'chelsea': ('skimage', 'data/chelsea.png'),
    'coffee': ('skimage', 'data/coffee.png'),
    'hubble_deep_field': ('skimage', 'data/hubble_deep_field.jpg'),
    'ihc': ('skimage', 'data/ihc.png'),
    'motorcycle_left': ('skimage', 'data/motorcycle_left.png'),
    'motorcycle_right': ('skimage', 'data/motorcycle_right.png'),
    'retina': ('skimage', 'data/retina.jpg'),
    'rocket': ('skimage', 'data/rocket.jpg'),
    'china': ('sklearn', 'datasets/images/china.jpg'),
    'flower': ('sklearn', 'datasets/images/flower.jpg'),
    'grace_hopper': ('matplotlib', 'mpl-data/sample_data/grace_hopper.jpg'),
    # greyscale photographs
    'brick': ('skimage', 'data/brick.png'),
    'camera': ('skimage', 'data/camera.png'),
    'cell': ('skimage', 'data/cell.png'),
    'coins': ('skimage', 'data/coins.png'),
    'grass': ('skimage', 'data/grass.png'),
    'gravel': ('skimage', 'data/gravel.png'),
    'moon': ('skimage', 'data/moon.png'),
    'page': ('skimage', 'data/page.png'),
    'text': ('skimage', 'data/text.png'),
}

#: The demo's held-out set: eight colour photos it never trains on (scene photos of people, animals, objects,
#: landscapes and the sky). The correspondence hook scores these.
DEMO_HELD_OUT_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field', 'china', 'flower',
                        'grace_hopper')
#: The demo's training set: every other bundled photo. The two motorcycle photos are a stereo pair of one scene,
#: so both are on this side.
DEMO_TRAIN_PHOTOS = tuple(name for name in BUNDLED_PHOTOS if name not in DEMO_HELD_OUT_PHOTOS)


def bundled_photo_path(name: str) -> str:
    """Path of a bundled photo (a key of :data:`BUNDLED_PHOTOS`) inside its installed package."""
    if name not in BUNDLED_PHOTOS:
        raise KeyError(f'unknown bundled photo {name!r}; choose from {sorted(BUNDLED_PHOTOS)}')
    package, rel = BUNDLED_PHOTOS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f'bundled photo {name!r} needs the package {package!r}, which is not installed')
    path = osp.join(list(spec.submodule_search_locations)[0], rel)
    if not osp.isfile(path):
        raise FileNotFoundError(f'bundled photo {name!r} not found at {path}')
    return path


def skimage_data_dir() -> str:
    """Directory of scikit-image's bundled sample images."""
    return osp.dirname(bundled_photo_path('astronaut'))


@DATASETS.register_module()
class BundledPhotos(BaseDataset):
    """Unlabelled photos that installed packages ship (the demo's data, needing no download), or named files.

    Args:
        names (Sequence[str]): Keys of :data:`BUNDLED_PHOTOS` when ``data_root`` is None, else file names
            inside ``data_root``. Defaults to :data:`DEMO_TRAIN_PHOTOS`.
        pipeline (list): Data pipeline (starts with a loading transform).
        data_root (str, optional): Directory to read ``names`` from. Defaults to None (bundled photos).
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(classes=None)

    def __init__(self,
                 names: Sequence[str] = DEMO_TRAIN_PHOTOS,
                 pipeline: Sequence = (),
                 data_root: Optional[str] = None,
                 **kwargs) -> None:
        self.names = tuple(names)
        if not self.names:
            raise ValueError('names must list at least one image')
        super().__init__(data_root=data_root or '', pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> List[dict]:
        if not self.data_root:
            paths = [bundled_photo_path(n) for n in self.names]
        else:
            paths = [osp.join(self.data_root, n) for n in self.names]
            missing = [p for p in paths if not osp.isfile(p)]
            if missing:
                raise FileNotFoundError(f'images not found: {missing}')
        return [dict(img_path=p, sample_idx=i) for i, p in enumerate(paths)]
