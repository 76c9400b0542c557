"""The conductance level's own bistability, measured (docs/body/self-rhythm.md section 5): every synapse and
gap junction of the circuit set to zero (isolated cells), a current ramp from -10 to +10 pA and back in
2 pA steps of 0.5 s each, injected into every cell; prints DB1's voltage at the end of each step.

    nice -n 5 python docs/body/conductance_hysteresis.py     # 344 s on the loaded machine (mostly Brian2)

At the most negative currents the isolated cells, whose leak is c302's 0.005 mS/cm2 (~250 GOhm), leave the
physical range and are parked at rest (the level's failure handling, a warning): those rows mean nothing.
"""
import numpy as np, torch, time
from wormsim.config import TrainConfig
from wormsim.rollout import Evaluator
t0=time.time()
ev=Evaluator(TrainConfig(level="conductance", head_cpg=0).eval_spec())
ev._setup(1)
b=ev.brain
with torch.no_grad():
    b.g_chem.zero_(); b.g_gap.zero_()
b.reset(1)
names=list(b.circuit.names); n=len(names)
db=[i for i,x in enumerate(names) if x.startswith("DB")][0]
# ramp: up from -10 pA to +10 and back, 0.5 s per level (25 control steps)
levels=list(np.arange(-10,10.1,2.0))+list(np.arange(10,-10.1,-2.0))
cur=np.concatenate([np.full((25,1,n),l) for l in levels])
v=b.run_current_clamp(cur)
for k,l in enumerate(levels):
    print(f"{l:+5.1f} pA -> {v[(k+1)*25, 0, db]:7.2f} mV ({names[db]})")
print("wall", time.time()-t0)
