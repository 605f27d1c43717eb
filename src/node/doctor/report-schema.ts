/**
 * @module
 * The JSON schema (TypeBox) of a `DoctorReport`, for `GET /doctor` on the operations listener:
 * the response serialises exactly these fields.
 */
import { Type } from '@sinclair/typebox';
import { DOCTOR_CHECK_IDS } from './report.ts';

export const DoctorReportSchema = Type.Object(
  {
    ok: Type.Boolean(),
    operator: Type.String(),
    checkedAt: Type.Integer(),
    checks: Type.Array(Type.Object(
      {
        id: Type.Union(DOCTOR_CHECK_IDS.map((id) => Type.Literal(id))),
        status: Type.Union([Type.Literal('pass'), Type.Literal('warn'), Type.Literal('fail')]),
        message: Type.String(),
        fix: Type.Union([Type.String(), Type.Null()]),
      },
      { additionalProperties: false },
    )),
  },
  { additionalProperties: false },
);
