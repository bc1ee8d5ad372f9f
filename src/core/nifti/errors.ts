// Typed NIfTI reading errors: callers switch on `code`, people read `message` (which names the file).
export type NiftiErrorCode =
  | 'not_nifti'
  | 'truncated'
  | 'missing_image'
  | 'too_many_dims'
  | 'too_large'
  | 'bad_dims'
  | 'unsupported_datatype'
  | 'io'
  | 'gzip';

export class NiftiError extends Error {
  readonly code: NiftiErrorCode;
  readonly file: string;
  /** The problem without the file name, for tables that print the file separately. */
  readonly detail: string;

  constructor(code: NiftiErrorCode, file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'NiftiError';
    this.code = code;
    this.file = file;
    this.detail = detail;
  }
}

export function isNiftiError(e: unknown): e is NiftiError {
  return e instanceof NiftiError;
}
