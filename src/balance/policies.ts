/**
 * Every load-balancing policy, under the name users write in `loadBalancer`. One line per
 * policy: the option's list of names, its type and the balancer factory all come from here, so
 * a policy is its file plus its line below.
 */
export { leastRequest as 'least-request' } from './least-request.js';
export { peakEwma as 'peak-ewma' } from './peak-ewma.js';
export { random } from './random.js';
export { ringHash as 'ring-hash' } from './ring-hash.js';
export { roundRobin as 'round-robin' } from './round-robin.js';
