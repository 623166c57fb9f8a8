// The Colyseus schema of the scenario (the worker encodes with it, colyseus.mjs decodes with it).
import { schema, t } from "@colyseus/schema";

export const Entity = schema({ x: t.number(), y: t.number(), hp: t.number() }, "Entity");
export const State = schema({ entities: t.map(Entity) }, "State");
