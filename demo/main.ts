// The first demo page: runs the seed notebook's examples on WebGPU and on the CPU reference and shows the
// results side by side, marking every element where they differ (they never should).
import { type QTensor, dequantize, getBackend, getDefaultManager, quantizePerChannel, quantizePerTensor, reference, tensor } from '../src/index.js';

const status = document.querySelector<HTMLParagraphElement>('#backend')!;

function row(cells: (string | number)[], header = false, classes: string[] = []): HTMLTableRowElement {
  const tr = document.createElement('tr');
  cells.forEach((cell, i) => {
    const td = document.createElement(header ? 'th' : 'td');
    td.textContent = String(cell);
    if (classes[i]) td.className = classes[i]!;
    tr.append(td);
  });
  return tr;
}

/** 'match' when bit-identical, 'ulp' when 1 ulp apart (the documented float32-scale difference), else 'mismatch'. */
function floatAgreement(a: number, b: number): 'match' | 'ulp' | 'mismatch' {
  if (Object.is(a, b)) return 'match';
  const bits = new Int32Array(Float32Array.of(a, b).buffer);
  return Math.abs(bits[0]! - bits[1]!) === 1 ? 'ulp' : 'mismatch';
}

async function show(id: string, input: Float32Array, gpu: QTensor, cpu: QTensor): Promise<number> {
  const table = document.querySelector<HTMLTableElement>(`#${id}`)!;
  const gpuValues = gpu.intRepr();
  const cpuValues = cpu.intRepr();
  const gpuFloats = (await dequantize(gpu)).data;
  const cpuFloats = reference.dequantize(cpu).data;
  table.replaceChildren(row(['x', `int (${gpu.backend})`, 'int (CPU)', `dequantized (${gpu.backend})`, 'dequantized (CPU)', 'error'], true));
  let mismatches = 0;
  for (let i = 0; i < input.length; i++) {
    const same = gpuValues[i] === cpuValues[i];
    const floatClass = floatAgreement(gpuFloats[i]!, cpuFloats[i]!);
    mismatches += Number(!same) + Number(floatClass === 'mismatch');
    table.append(row([input[i]!.toPrecision(6), gpuValues[i]!, cpuValues[i]!, gpuFloats[i]!.toPrecision(8), cpuFloats[i]!.toPrecision(8),
      (input[i]! - gpuFloats[i]!).toExponential(3)], false,
    ['', same ? 'match' : 'mismatch', '', floatClass]));
  }
  return mismatches;
}

async function main(): Promise<void> {
  const backend = await getBackend();
  if (backend === 'webgpu') {
    const info = (await getDefaultManager()).adapterInfo;
    status.textContent = `Running on WebGPU: ${[info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ')}`;
  } else {
    status.textContent = 'No WebGPU here (another browser, or blocked): everything below runs on the CPU reference.';
    status.classList.add('warn');
  }
  const x = tensor([-1.52, 0.01, 1.501, 3.0001]);
  let mismatches = await show('per-tensor', x.data, await quantizePerTensor(x, 0.5, 0, 'qint8'), reference.quantizePerTensor(x, 0.5, 0, 'qint8'));
  const w = tensor([-0.1, 0, 0.1, 0.2, -100, -50, 0, 50, -110, -60, 20, 40, -5, -2.5, 2.5, 5, 0, 0, 0, 0], [5, 4]);
  const scales = [0.002, 0.5, 0.6, 0.05, 1.0];
  const zeroPoints = [0, 0, 0, 0, 0];
  mismatches += await show('per-channel', w.data, await quantizePerChannel(w, scales, zeroPoints, 0, 'qint8'),
    reference.quantizePerChannel(w, scales, zeroPoints, 0, 'qint8'));
  document.body.dataset.ready = 'true';
  document.body.dataset.mismatches = String(mismatches);
}

main().catch((error: unknown) => {
  status.textContent = `Error: ${(error as Error).message}`;
  status.classList.add('warn');
});
