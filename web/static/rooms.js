// @ts-check
// Lists the server's rooms from GET /api/rooms.

/** @typedef {{name: string, mode: string, title: string, participants: number}} RoomInfo */

const body = /** @type {HTMLTableSectionElement} */ (document.querySelector('#rooms tbody'));
const status = /** @type {HTMLElement} */ (document.getElementById('status'));

async function load() {
  try {
    const res = await fetch('/api/rooms');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    /** @type {{rooms: RoomInfo[]}} */
    const data = await res.json();
    body.replaceChildren(...data.rooms.map((r) => {
      const tr = document.createElement('tr');
      for (const v of [r.name, r.mode, r.title, String(r.participants)]) {
        const td = document.createElement('td');
        td.textContent = v;
        tr.append(td);
      }
      return tr;
    }));
    status.textContent = '';
  } catch (e) {
    status.textContent = `Cannot load the rooms: ${e instanceof Error ? e.message : e}`;
  }
}

load();
