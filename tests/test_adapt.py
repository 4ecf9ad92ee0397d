from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from lensscan.adapt import METHODS, Batch, MethodContext, build_method
from lensscan.adapt.adabn import adapt_batchnorm
from lensscan.adapt.adamatch import warmup
from lensscan.adapt.dann import reversal_strength
from lensscan.data.augment import IDENTITY, STRONG, WEAK
from lensscan.models import ENCODERS, build_network
from lensscan.training.step import Precision, apply_gradients

HEAVY = {"efficientnet_b2", "resnet34", "densenet121"}


def _context(
    encoder: str = "small_cnn", size: int = 32, augment=IDENTITY, seed: int = 0, **options
):
    torch.manual_seed(seed)
    network = build_network(encoder, 3)
    generator = torch.Generator().manual_seed(seed)
    pool = torch.randn(4, 3, size, size, generator=generator)
    return MethodContext(
        network=network,
        pos_weight=2.0,
        lr=1e-3,
        weight_decay=0.0,
        epochs=4,
        steps_per_epoch=5,
        generator=generator,
        target_pool=pool,
        options=options,
        weak=augment,
        strong=augment,
    )


def _batch(n: int = 4, size: int = 32, seed: int = 1) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    source = torch.randn(n, 3, size, size, generator=generator)
    target = torch.randn(n, 3, size, size, generator=generator) * 1.5 + 0.3
    labels = torch.tensor([1.0, 0.0] * (n // 2))
    return Batch(source, labels, target)


def _step(method, batch: Batch, epoch: int = 0) -> dict[str, torch.Tensor]:
    method.on_epoch_start(epoch)
    method.train()
    losses = method.losses(batch, epoch * method.context.steps_per_epoch)
    apply_gradients(
        losses,
        method.loss_groups(epoch),
        method.optimizers(),
        Precision(torch.device("cpu"), False).scaler,
    )
    method.after_step(0)
    return losses


@pytest.mark.parametrize("method_name", sorted(METHODS))
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_every_encoder_and_method_trains_a_step(encoder: str, method_name: str) -> None:
    # The heavy timm encoders get 2 tiny images per domain; 32 px is their smallest input.
    n = 2 if encoder in HEAVY else 4
    context = _context(encoder, augment=WEAK)
    context = MethodContext(**{**context.__dict__, "strong": STRONG})
    method = build_method(method_name, context)
    before = {k: v.clone() for k, v in method.network.state_dict().items()}
    batch = _batch(n)
    # ADDA's adversarial stage starts after its pre-training epochs.
    epoch = method.pretrain_epochs if method_name == "adda" else 0
    losses = _step(method, batch, epoch)
    assert losses and all(torch.isfinite(v).all() for v in losses.values())
    evaluated = method.eval_network().eval()
    with torch.no_grad():
        scores = torch.sigmoid(evaluated(batch.target))
    assert scores.shape == (n,) and torch.isfinite(scores).all()
    trained_modules = method.modules()
    changed = any(
        not torch.equal(before[k], v)
        for k, v in method.network.state_dict().items()
        if v.is_floating_point()
    )
    assert changed or method_name == "adda"
    if method_name == "adda":
        assert not torch.equal(
            next(trained_modules["target_encoder"].parameters()),
            next(method.network.encoder.parameters()),
        )


def test_supervised_loss_is_class_weighted_bce() -> None:
    method = build_method("supervised", _context())
    batch = _batch()
    method.train()
    losses = method.losses(batch, 0)
    logits = method.network(batch.source)
    weights = torch.where(batch.labels == 1, 2.0, 1.0)
    expected = -(
        weights * (batch.labels * F.logsigmoid(logits) + (1 - batch.labels) * F.logsigmoid(-logits))
    ).mean()
    torch.testing.assert_close(losses["classification"], expected)


def test_dann_losses_and_reversed_gradient() -> None:
    method = build_method("dann", _context())
    batch = _batch()
    method.train()
    step = 7
    losses = method.losses(batch, step)
    p = step / method.context.total_steps
    expected_strength = 2 / (1 + math.exp(-10 * p)) - 1
    assert float(losses["reversal"]) == pytest.approx(expected_strength)
    features = method.network.encoder(torch.cat([batch.source, batch.target]))
    classification = F.binary_cross_entropy_with_logits(
        method.network.head(features[:4]), batch.labels, pos_weight=torch.tensor(2.0)
    )
    domain_logits = method.discriminator(features)
    domain = F.binary_cross_entropy_with_logits(domain_logits, torch.tensor([1.0] * 4 + [0.0] * 4))
    torch.testing.assert_close(losses["classification"], classification)
    torch.testing.assert_close(losses["domain"], domain)
    # Through the reversal layer the encoder receives -lambda times the domain gradient.
    weight = method.network.encoder.body[0].weight
    reversed_grad = torch.autograd.grad(losses["domain"], weight)[0]
    plain_grad = torch.autograd.grad(domain, weight)[0]
    torch.testing.assert_close(reversed_grad, -expected_strength * plain_grad)
    assert reversal_strength(0.0) == 0.0 and reversal_strength(1.0) == pytest.approx(
        0.9999092, rel=1e-6
    )


def test_adda_losses_and_frozen_players() -> None:
    method = build_method("adda", _context())
    assert method.pretrain_epochs == 2
    batch = _batch()
    _step(method, batch, epoch=0)
    assert method.loss_groups(0) == {"source": ("classification",)}
    method.on_epoch_start(2)
    # The target encoder starts as a copy of the pre-trained source encoder.
    for a, b in zip(
        method.target_encoder.state_dict().values(),
        method.network.encoder.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    source_before = copy.deepcopy(method.network.state_dict())
    discriminator_before = copy.deepcopy(method.discriminator)
    method.train()
    assert not method.network.training and method.target_encoder.training
    losses = method.losses(batch, 10)
    with torch.no_grad():
        source_features = method.network.encoder(batch.source)
    target_features = method.target_encoder(batch.target)
    d_source = discriminator_before(source_features)
    d_target = discriminator_before(target_features)
    expected_d = -(F.logsigmoid(d_source).sum() + F.logsigmoid(-d_target).sum()) / 8
    expected_g = -F.logsigmoid(d_target).mean()  # inverted labels: target called "source"
    torch.testing.assert_close(losses["discriminator"], expected_d)
    torch.testing.assert_close(losses["target_encoder"], expected_g)
    apply_gradients(
        losses,
        method.loss_groups(2),
        method.optimizers(),
        Precision(torch.device("cpu"), False).scaler,
    )
    # Classifier and source encoder are frozen in the adversarial stage.
    for key, value in method.network.state_dict().items():
        assert torch.equal(value, source_before[key]), key
    # The discriminator's step used only its own loss: compare with a manual AdamW step.
    grads = torch.autograd.grad(expected_d, list(discriminator_before.parameters()))
    manual = torch.optim.AdamW(
        discriminator_before.parameters(), lr=2e-4, betas=(0.5, 0.999), weight_decay=0.0
    )
    for param, grad in zip(discriminator_before.parameters(), grads, strict=True):
        param.grad = grad
    manual.step()
    for a, b in zip(
        discriminator_before.parameters(), method.discriminator.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b)
    assert method.eval_network().encoder is method.target_encoder


def test_adamatch_losses_by_hand_with_two_class_softmax() -> None:
    method = build_method("adamatch", _context(tau=0.6))
    batch = _batch()
    method.train()
    generator_state = method.generator.get_state()
    step = 3
    losses = method.losses(batch, step)
    net = method.network
    n = 4
    source_views = torch.cat([batch.source, batch.source])  # identity augmentation
    target_views = torch.cat([batch.target, batch.target])
    joint = net(torch.cat([source_views, target_views]))
    alone = net(source_views)
    replay = torch.Generator().manual_seed(0)
    replay.set_state(generator_state)
    mix = torch.rand(2 * n, generator=replay)
    source_logits = mix * joint[: 2 * n] + (1 - mix) * alone

    def two_class(z):  # softmax over logits (0, z) has P(class 1) = sigmoid(z)
        return torch.stack([torch.zeros_like(z), z], dim=1)

    labels = torch.cat([batch.labels, batch.labels]).long()
    ce = F.cross_entropy(two_class(source_logits), labels, reduction="none")
    expected_source = (ce * torch.where(labels == 1, 2.0, 1.0)).mean()
    with torch.no_grad():
        p_source = F.softmax(two_class(source_logits[:n]), dim=1)
        p_target = F.softmax(two_class(joint[2 * n : 3 * n]), dim=1)
        aligned = p_target * (p_source.mean(0) / p_target.mean(0))
        aligned = aligned / aligned.sum(1, keepdim=True)
        threshold = 0.6 * p_source.max(1).values.mean()
        mask = (aligned.max(1).values >= threshold).float()
        pseudo = aligned.argmax(1)
    target_ce = F.cross_entropy(two_class(joint[3 * n :]), pseudo, reduction="none")
    weight = 0.5 - math.cos(min(math.pi, 2 * math.pi * step / 20)) / 2
    torch.testing.assert_close(losses["source"], expected_source)
    torch.testing.assert_close(losses["target"], weight * (target_ce * mask).mean())
    torch.testing.assert_close(losses["mask_rate"], mask.mean())
    assert warmup(0, 20) == 0.0 and warmup(10, 20) == 1.0 and warmup(20, 20) == 1.0


def test_self_ensembling_losses_and_ema_teacher() -> None:
    method = build_method("self_ensembling", _context(confidence=0.5, target_prior=0.2))
    batch = _batch()
    method.train()
    with torch.no_grad():
        for p in method.network.parameters():
            p.add_(0.01)  # student and teacher differ, as they do after a few steps
    losses = method.losses(batch, 0)
    student = method.network
    classification = F.binary_cross_entropy_with_logits(
        student(batch.source), batch.labels, pos_weight=torch.tensor(2.0)
    )
    p_student = torch.sigmoid(student(batch.target))
    with torch.no_grad():
        p_teacher = torch.sigmoid(method.teacher(batch.target))
    mask = (torch.maximum(p_teacher, 1 - p_teacher) > 0.5).float()
    vector_s = torch.stack([1 - p_student, p_student], 1)
    vector_t = torch.stack([1 - p_teacher, p_teacher], 1)
    consistency = (((vector_s - vector_t) ** 2).sum(1) * mask).mean()
    m = p_student.mean()
    balance = -(0.2 * torch.log(m) + 0.8 * torch.log(1 - m)) * mask.mean()
    torch.testing.assert_close(losses["classification"], classification)
    torch.testing.assert_close(losses["consistency"], 3.0 * consistency)
    torch.testing.assert_close(losses["class_balance"], 3.0 * 0.005 * balance)
    teacher_before = [p.clone() for p in method.teacher.parameters()]
    method.after_step(0)
    for old, new, s in zip(
        teacher_before, method.teacher.parameters(), method.network.parameters(), strict=True
    ):
        torch.testing.assert_close(new, 0.99 * old + 0.01 * s)
    assert method.eval_network() is method.teacher
    assert not any(p.requires_grad for p in method.teacher.parameters())


def test_adabn_uses_target_statistics_only() -> None:
    context = _context()
    method = build_method("adabn", context)
    adapted = adapt_batchnorm(method.network, context.target_pool, batch_size=4)
    first_conv, first_norm = adapted.encoder.body[0], adapted.encoder.body[1]
    with torch.no_grad():
        activations = first_conv(context.target_pool)
    torch.testing.assert_close(first_norm.running_mean, activations.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(
        first_norm.running_var, activations.var(dim=(0, 2, 3), unbiased=True)
    )
    # The trained network itself keeps its source statistics.
    assert torch.equal(method.network.encoder.body[1].running_mean, torch.zeros(8))
    assert method.eval_network().encoder.body[1].running_mean.abs().sum() > 0


def test_weak_and_strong_augmentations_are_seeded_and_label_preserving() -> None:
    images = torch.randn(6, 3, 32, 32)
    a = STRONG(images, torch.Generator().manual_seed(3))
    b = STRONG(images, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == images.shape
    weak = WEAK(images, torch.Generator().manual_seed(4))
    # Flips, quarter turns and shifts with reflection only move pixels: the central pixel
    # values of each image are a subset of the original's.
    assert not torch.equal(weak, images)
    assert torch.isin(weak[:, :, 8:24, 8:24], images).all()
    assert torch.equal(IDENTITY(images, torch.Generator()), images)
