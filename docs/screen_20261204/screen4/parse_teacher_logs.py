import glob, re, sys
cols = ['psnr_mu', 'psnr_mu_extreme', 'psnr_mu_motion', 'teacher_psnr_mu', 'teacher_psnr_mu_extreme', 'teacher_psnr_mu_motion', 'teacher0_psnr_mu', 'teacher0_psnr_mu_extreme']
print('| run | iter | ' + ' | '.join(cols) + ' |')
for name in sys.argv[1:]:
    for log in sorted(glob.glob(f'/work/screen4/experiments/{name}/train_*.log')):
        lines = open(log).read().splitlines()
        for i, l in enumerate(lines):
            m = re.search(r'Validation \S+ @ iter (\d+)', l)
            if not m: continue
            head = [c.strip() for c in lines[i + 1].strip('|').split('|')]
            for r in lines[i + 2:i + 40]:
                if r.startswith('| **mean**'):
                    vals = [c.strip() for c in r.strip('|').split('|')]
                    d = dict(zip(head, vals))
                    print(f'| {name} | {m.group(1)} | ' + ' | '.join(d.get(c, '-') for c in cols) + ' |')
                    break
