// Test models loaded through the real loaders: a checkpoint under testdata/, or a folder of files built in a test.
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import type { FileMap } from '../src/model/hfFiles';
import type { Model } from '../src/model/types';
import { testdata } from './testdata';

export async function modelAt(p: string): Promise<Model> {
  const { files, primary } = await filesFromPath(testdata(p));
  return (await loadModelFiles(files, { primary })).model;
}

export const modelOf = async (files: FileMap): Promise<Model> => (await loadModelFiles(files)).model;
