# Copyright (c) mmlc contributors. All rights reserved.
"""ViT export to mmseg: key names by hand, strict loading into mmseg's VisionTransformer with the same patch
features as mmpretrain's, refusals, the command-line tool, and the ViT-S/16 UperNet config built and loaded."""

import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.models import VisionTransformer

import mmlc  # noqa: F401
from mmlc.downstream import mmseg_vit_args, mmseg_vit_key, to_mmseg_vit
from conftest import CONFIG_DIR, load_script

mmseg_models = pytest.importorskip('mmseg.models')

ARCH = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
SEG_CONFIG = osp.join(CONFIG_DIR, 'benchmarks', 'mmsegmentation', 'upernet_vit-s16-mln_8xb2-160k_ade20k-512x512.py')


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random(module: torch.nn.Module, seed: int) -> None:
    """Every tensor random (LayerNorm scales around 1), so a tensor that was not loaded would show."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            p.copy_(1 + 0.2 * noise if (
                'ln' in name or 'norm' in name) and p.dim() == 1 and name.endswith('weight') else 0.1 * noise)


def _mmpretrain_vit(out_type='featmap', arch=ARCH, img_size=64, seed=0, **kwargs) -> VisionTransformer:
    vit = VisionTransformer(arch=arch, img_size=img_size, patch_size=16, out_type=out_type, **kwargs)
    _random(vit, seed)
    vit.eval()  # returns None for mmpretrain's backbones
    return vit


def test_mmseg_key_names_by_hand():
    # Worked out from mmseg 1.2.2's vit.py (TransformerEncoderLayer.attn = mmcv MultiheadAttention, whose
    # `attn` is torch.nn.MultiheadAttention; build_norm_layer(..., postfix='_pre') names the pre-norm `ln_pre`).
    cases = {
        'layers.0.attn.qkv.weight': 'layers.0.attn.attn.in_proj_weight',
        'layers.11.attn.qkv.bias': 'layers.11.attn.attn.in_proj_bias',
        'layers.3.attn.proj.weight': 'layers.3.attn.attn.out_proj.weight',
        'layers.3.attn.proj.bias': 'layers.3.attn.attn.out_proj.bias',
        'pre_norm.weight': 'ln_pre.weight',
        'layers.2.ln1.weight': 'layers.2.ln1.weight',
        'layers.2.ffn.layers.0.0.weight': 'layers.2.ffn.layers.0.0.weight',
        'layers.2.ffn.layers.1.bias': 'layers.2.ffn.layers.1.bias',
        'patch_embed.projection.weight': 'patch_embed.projection.weight',
        'ln1.bias': 'ln1.bias',
        'cls_token': 'cls_token',
        'pos_embed': 'pos_embed',
    }
    for src, dst in cases.items():
        assert mmseg_vit_key(src) == dst


@pytest.mark.parametrize('pre_norm', [False, True])
@pytest.mark.parametrize('size', [(64, 64), (48, 80)])
def test_converted_vit_loads_strictly_into_mmseg_and_gives_the_same_patch_features(pre_norm, size):
    src = _mmpretrain_vit(out_indices=(0, 1, 2), pre_norm=pre_norm)
    converted = to_mmseg_vit(src.state_dict())
    args = mmseg_vit_args(src.state_dict())
    assert args == dict(
        embed_dims=32,
        num_layers=3,
        patch_size=16,
        mlp_ratio=2,
        img_size=64,
        patch_bias=not pre_norm,
        final_norm=True,
        pre_norm=pre_norm)
    seg = mmseg_models.backbones.VisionTransformer(
        **args, num_heads=2, norm_cfg=dict(type='LN', eps=1e-6), out_indices=(0, 1, 2))
    seg.load_state_dict(converted, strict=True)
    seg.eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        ref, out = src(x), seg(x)
    assert len(out) == len(ref) == 3
    for layer, (a, b) in enumerate(zip(out, ref)):  # layer 2 includes the final norm in both
        assert a.shape == b.shape == (2, 32, size[0] // 16, size[1] // 16)
        assert b.std() > 0.1  # non-degenerate, so the comparison means something
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f'layer {layer}')


@pytest.mark.parametrize('kwargs, match', [(dict(layer_scale_init_value=0.1), 'counterpart'),
                                           (dict(with_cls_token=False, out_type='featmap'), 'class token'),
                                           (dict(qkv_bias=False), 'qkv bias')])
def test_backbones_mmseg_cannot_represent_are_refused(kwargs, match):
    kwargs.setdefault('out_type', 'featmap')
    vit = VisionTransformer(arch=ARCH, img_size=64, patch_size=16, **kwargs)
    with pytest.raises(ValueError, match=match):
        to_mmseg_vit(vit.state_dict())
    with pytest.raises(ValueError, match='counterpart'):
        to_mmseg_vit({'backbone.cls_token': torch.zeros(1), 'conv1.weight': torch.zeros(1)})


def test_tool_writes_the_mmseg_layout(tmp_path, capsys):
    online, target = _mmpretrain_vit(seed=1), _mmpretrain_vit(seed=2)
    state = {f'backbone.{k}': v for k, v in online.state_dict().items()}
    state.update({f'target_net.module.0.{k}': v for k, v in target.state_dict().items()})
    state['local_neck.conv1.weight'] = torch.randn(8, 32, 1, 1)
    ckpt = tmp_path / 'iter_1.pth'
    torch.save(dict(meta=dict(iter=1), state_dict=state), ckpt)
    tool = load_script('tools/model_converters/extract_backbone.py')
    for source, ref in (('online', online), ('target', target)):
        out = tmp_path / f'{source}_mmseg.pth'
        tool.main([str(ckpt), str(out), '--format', 'mmseg-vit', '--source', source])
        written = torch.load(out, weights_only=True)  # plain tensors
        seg = mmseg_models.backbones.VisionTransformer(
            img_size=64, embed_dims=32, num_layers=3, num_heads=2, mlp_ratio=2, patch_bias=True, final_norm=True)
        seg.load_state_dict(written, strict=True)
        torch.testing.assert_close(
            seg.layers[1].attn.attn.in_proj_weight, ref.layers[1].attn.qkv.weight, rtol=0, atol=0)
    printed = capsys.readouterr().out
    assert f'wrote {len(online.state_dict())} target backbone tensors (mmseg-vit layout)' in printed
    assert 'embed_dims=32, num_layers=3, patch_size=16, mlp_ratio=2, img_size=64, patch_bias=True' in printed
    with pytest.raises(SystemExit):  # --keep-prefix is for the mmpretrain format only
        tool.main([str(ckpt), str(tmp_path / 'x.pth'), '--format', 'mmseg-vit', '--keep-prefix'])


def _bn_everywhere(node):
    """SyncBN -> BN in a config (no process group in a test)."""
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for v in node.values():
            _bn_everywhere(v)
    elif isinstance(node, list):
        for v in node:
            _bn_everywhere(v)


def test_vit_s16_upernet_config_builds_and_loads_a_converted_checkpoint(tmp_path):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS as SEG_MODELS

    cfg = Config.fromfile(SEG_CONFIG)
    bb = cfg.model.backbone
    # ViT-S/16 as DeiT-S: 384-d, 12 layers, 6 heads, MLP ratio 4; mmpretrain's patch bias and final norm.
    assert (bb.type, bb.embed_dims, bb.num_layers, bb.num_heads, bb.mlp_ratio, bb.patch_size) == ('VisionTransformer',
                                                                                                  384, 12, 6, 4, 16)
    assert bb.patch_bias and bb.final_norm and bb.norm_cfg == dict(type='LN', eps=1e-6) and bb.qkv_bias
    assert bb.out_indices == (2, 5, 8, 11) and bb.img_size == (512, 512)
    assert cfg.model.pretrained is None and bb.init_cfg.type == 'Pretrained'
    assert (cfg.model.decode_head.type, cfg.model.neck.type,
            cfg.model.decode_head.num_classes) == ('UPerHead', 'MultiLevelNeck', 150)
    assert cfg.train_cfg.max_iters == 160000 and cfg.train_dataloader.batch_size == 2
    assert 'mmlc' in cfg.custom_imports.imports

    # A random ViT-S/16 pretrained at 224 px, as mmpretrain writes it, converted for mmseg.
    deit_s = dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536)
    src = _mmpretrain_vit(arch=deit_s, img_size=224, seed=3, out_indices=(2, 5, 8, 11))
    converted = to_mmseg_vit(src.state_dict())
    path = tmp_path / 'vit-s16_mmseg.pth'
    torch.save(converted, path)

    bb.init_cfg.checkpoint = str(path)
    _bn_everywhere(cfg.model)
    init_default_scope('mmseg')
    model = SEG_MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    loaded = model.backbone.state_dict()
    assert loaded.keys() == converted.keys()
    for k, v in converted.items():
        if k != 'pos_embed':
            torch.testing.assert_close(loaded[k], v, rtol=0, atol=0, msg=k)
    # pos_embed: class position as it was, the 14 x 14 patch grid resized bicubically to 32 x 32 (512 / 16).
    pos = converted['pos_embed']
    grid = pos[:, 1:].reshape(1, 14, 14, 384).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(32, 32), mode='bicubic', align_corners=False)
    expected = torch.cat([pos[:, :1], resized.flatten(2).transpose(1, 2)], dim=1)
    torch.testing.assert_close(loaded['pos_embed'], expected, rtol=1e-5, atol=1e-6)

    # The fine-tuning backbone computes what mmpretrain's ViT-S does at 512 px with the same weights.
    ref = _mmpretrain_vit(arch=deit_s, img_size=512, seed=3, out_indices=(2, 5, 8, 11))
    ref.load_state_dict(src.state_dict())  # mmpretrain's own load hook resizes pos_embed 14 -> 32
    x = torch.randn(1, 3, 512, 512)
    with torch.no_grad():
        for a, b in zip(model.backbone(x), ref(x)):
            assert a.shape == b.shape == (1, 384, 32, 32)
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
        logits = model(torch.randn(1, 3, 64, 64), mode='tensor')  # the whole segmentor runs
    assert logits.shape[:2] == (1, 150)
