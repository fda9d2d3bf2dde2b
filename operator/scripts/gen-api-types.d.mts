// Types of gen-api-types.mjs, for operator/src/api/generated.test.ts.
export declare const crdPath: string;
export declare const outputPath: string;
export declare function generateApiTypes(crdText: string, crdName?: string): string;
