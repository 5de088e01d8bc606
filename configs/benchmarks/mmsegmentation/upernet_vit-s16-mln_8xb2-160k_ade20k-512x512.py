# ADE20K semantic segmentation with a self-supervised ViT-S/16: UperNet on mmseg's multi-level neck, 160k
# iterations at 512 px, batch 16 (8 GPUs x 2), AdamW: mmseg's DeiT-S recipe with one change, the backbone's
# weights and the few arguments in which mmpretrain's ViT differs from mmseg's defaults.
#
# The checkpoint must be in mmseg's ViT layout (mmseg's ViT loads its own key names and ignores `prefix`, so a
# Runner checkpoint does not load): convert the pretraining checkpoint first,
#   python tools/model_converters/extract_backbone.py CKPT vit-s16_mmseg.pth --format mmseg-vit
# (the tool prints the architecture the weights fix), then pass the file as PRETRAIN to
# tools/benchmarks/mmsegmentation/dist_train.sh. The head count is not in the weights: 6 is DeiT-S/16's (and the
# DINO ViT-S/16's); MoCo v3's `mocov3-small` has 12: add `--cfg-options model.backbone.num_heads=12`.
_base_ = ['mmseg::vit/vit_deit-s16_mln_upernet_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)

model = dict(
    pretrained=None,  # the base's DeiT file would clash with init_cfg
    backbone=dict(
        num_heads=6,
        patch_bias=True,  # mmpretrain's patch embedding has a bias, mmseg's default none
        final_norm=True,  # mmpretrain's final LayerNorm `ln1`, on the last layer's tokens (out index 11)
        # mmseg's ViT loader resizes pos_embed from the pretraining grid (14 x 14 at 224 px) to 32 x 32.
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/vit-s16_mmseg.pth')))
