"""ImageNet's per-channel mean and std in [0, 1] pixel units (RGB): the normalisation torchvision's and timm's
pretrained weights expect, and that datasets fine-tuning from them reuse."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
