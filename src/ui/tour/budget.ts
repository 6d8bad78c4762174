/** The budget of every conversion in the tour: 25 % still lets mean-pool make whole groups of 8 heads. */
export const BUDGET = '25';
