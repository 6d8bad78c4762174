// The head layout's colours (HeadMap.tsx and its latent layers, HeadMapLatent.tsx), and what is hovered in it.
import { METHOD_COLOUR } from '../fusion/common';

export const K_COLOUR = '#0072B2';
export const V_COLOUR = '#D55E00';
export const Q_COLOUR = '#5c677d';
/** The latent's colour: MLA's, as in the method legends. */
export const LATENT_COLOUR = METHOD_COLOUR.mla;

/** The head (or the latent) hovered or focused: the query heads that read it are highlighted. */
export type HeadHover = { layer: number; kind: 'k' | 'v' | 'latent'; head: number } | null;
