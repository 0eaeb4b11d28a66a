#!/usr/bin/env bash
# Issue 18 latent tools on the measured runs (after measure.sh).
set -x
while ! grep -q DONE runs/measure.out; do sleep 20; done
cd /work/main
R=/work/runs
D=../shared/data/mnist.npz
python -m gan.cli.truncation --workdir=$R/gan --dataset=$D --thresholds=0.25,0.5,0.75,1,1.5,2,inf --num_samples=10000 --out=$R/truncation_gan.json --plot=$R/truncation_gan.png --grid=$R/truncation_grid_gan.png --progress_bar=False > $R/truncation.log 2>&1
python -m gan.cli.truncation --workdir=$R/vae --dataset=$D --thresholds=0.5,1,inf --num_samples=10000 --out=$R/truncation_vae.json --progress_bar=False >> $R/truncation.log 2>&1
for m in gan vae ae; do
  python -m gan.cli.neighbours --workdir=$R/$m --dataset=$D --num=8 --k=5 --out=$R/nn_$m.png --json=$R/nn_$m.json --progress_bar=False > $R/nn_$m.log 2>&1
done
for m in vae ae; do
  python -m gan.cli.reconstruct --workdir=$R/$m --dataset=$D --num=16 --out=$R/recon_$m.png --json=$R/recon_$m.json > $R/recon_$m.log 2>&1
done
python -m gan.cli.interpolate --workdir=$R/gan --num=8 --rows=4 --mode=slerp --seed=0 --out=$R/interp_gan.png
python -m gan.cli.interpolate --workdir=$R/vae --num=8 --rows=4 --mode=slerp --seed=0 --out=$R/interp_vae.png
python -m gan.cli.interpolate --workdir=$R/cgan --num=8 --rows=4 --classes=3,8 --seed=0 --out=$R/interp_classes_cgan.png
python -m gan.cli.evaluate --workdir=$R/cgan --dataset=$D --per_class=1000 --progress_bar=False > $R/eval_cgan.json 2> $R/eval_cgan.log
python -m gan.cli.evaluate --workdir=$R/cvae --dataset=$D --per_class=1000 --progress_bar=False > $R/eval_cvae.json 2> $R/eval_cvae.log
echo DONE2
