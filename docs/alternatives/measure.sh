#!/usr/bin/env bash
# Issue 18 measurements: equal CPU budget (900 CPU s) for GAN / VAE / AE on MNIST, then a
# conditional GAN and CVAE for augmentation and CAS; evaluations; latent tools.
set -x
cd /work/main
R=/work/runs
D=../shared/data/mnist.npz
B=900
C="--config.dataset=$D --config.run.max_train_seconds=0 --config.run.max_train_cpu_seconds=$B --config.num_steps=100000 --config.run.progress_bar=False"
python -m experiments.dcgan_mnist --workdir=$R/gan $C > $R/gan.log 2>&1
python -m experiments.vae_mnist --workdir=$R/vae $C > $R/vae.log 2>&1
python -m experiments.autoencoder_mnist --workdir=$R/ae $C > $R/ae.log 2>&1
for m in gan vae ae; do
  python -m gan.cli.evaluate --workdir=$R/$m --dataset=$D --progress_bar=False > $R/eval_$m.json 2> $R/eval_$m.log
  python -m gan.cli.sample --workdir=$R/$m --num=64 --seed=0 --out=$R/grid_$m.png
done
python -m experiments.cgan_mnist --workdir=$R/cgan $C > $R/cgan.log 2>&1
python -m experiments.vae_mnist --workdir=$R/cvae $C --config.model.conditional=True > $R/cvae.log 2>&1
python -m experiments.augmentation --workdir=$R/cgan --dataset=$D --per_class=10,100 --seeds=0,1,2 --synthetic_per_class=1000 --out=$R/augmentation.json > $R/augmentation.log 2>&1
python -m experiments.cas --workdirs=$R/cgan,$R/cvae --dataset=$D --num_per_class=1000 --seeds=0,1,2 --out=$R/cas.json > $R/cas.log 2>&1
echo DONE
